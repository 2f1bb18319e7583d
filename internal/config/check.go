package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/routes"
)

// CheckFile validates one file for `ambassador check-config`: a RouteTable
// document (it has a kind) or a process settings file. It returns one line
// per problem, each naming the file and the field.
func CheckFile(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var head struct {
		Kind string `yaml:"kind"`
	}
	if yaml.Unmarshal(data, &head) == nil && head.Kind != "" {
		if _, err := routes.Load(path); err != nil {
			return lines(err)
		}
		return nil
	}
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	AmbassadorFlags(fs)
	if err := CheckSettings(path, data, knownKeys(fs)); err != nil {
		return lines(err)
	}
	if err := fs.Set("config", path); err != nil {
		return []string{err.Error()}
	}
	if _, err := LoadAmbassador(fs); err != nil {
		return prefixed(path, lines(err))
	}
	return nil
}

func lines(err error) []string {
	return strings.Split(strings.TrimSpace(err.Error()), "\n")
}

func prefixed(path string, ls []string) []string {
	for i, l := range ls {
		ls[i] = fmt.Sprintf("%s: %s", path, strings.TrimPrefix(l, "config: "))
	}
	return ls
}
