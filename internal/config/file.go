package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds a process settings file.
const maxFileBytes = 1 << 20

// load merges flags, MESHLITE_* environment, the --config file and defaults
// into out (a struct with mapstructure tags named after the flags).
func load(fs *pflag.FlagSet, out any) (*viper.Viper, error) {
	v := viper.New()
	if err := v.BindPFlags(fs); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	v.SetEnvPrefix("MESHLITE")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := readFile(v, fs, knownKeys(fs)); err != nil {
		return nil, err
	}
	if err := v.Unmarshal(out); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return v, nil
}

// knownKeys lists the settings a file may hold: the flag names.
func knownKeys(fs *pflag.FlagSet) []string {
	var keys []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			keys = append(keys, f.Name)
		}
	})
	slices.Sort(keys)
	return keys
}

// readFile merges the --config file (flag or MESHLITE_CONFIG) into v after
// rejecting settings it does not know.
func readFile(v *viper.Viper, fs *pflag.FlagSet, known []string) error {
	path := v.GetString("config")
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := CheckSettings(path, data, known); err != nil {
		return err
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// CheckSettings reports unknown or malformed top-level settings in a process
// settings file, one error line per problem.
func CheckSettings(path string, data []byte, known []string) error {
	if len(data) > maxFileBytes {
		return fmt.Errorf("%s: file is %d bytes, the limit is %d", path, len(data), maxFileBytes)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: not valid YAML: %w", path, err)
	}
	if _, ok := doc["kind"]; ok {
		return fmt.Errorf("%s: this is a RouteTable document: pass it with --routes, not --config", path)
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		if !slices.Contains(known, key) {
			errs = append(errs, fmt.Errorf("%s: %s: unknown setting (known settings: %s)", path, key, strings.Join(known, ", ")))
		}
	}
	return errors.Join(errs...)
}

func joinLines(errs []error) error { return errors.Join(errs...) }
