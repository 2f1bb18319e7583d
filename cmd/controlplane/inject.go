package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/cli"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane/inject"
	"github.com/meshlite/meshlite/internal/telemetry"
)

// injectCmd is "controlplane inject": the webhook's mutation for YAML in a
// pipeline (GitOps, review), stdin or -f FILE to stdout.
func injectCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "inject [-f FILE|-]",
		Short: "add the ambassador to every pod template that asks (meshlite.io/inject: enabled); other documents are copied byte for byte",
		Args:  cli.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadInject(cmd.Flags())
			if err != nil {
				return err
			}
			in, err := inject.New(injectOptions(cfg))
			if err != nil {
				return err
			}
			data, err := readInput(file, stdin)
			if err != nil {
				return err
			}
			out, err := in.Documents(data)
			if err != nil {
				return err
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "-", "YAML (or JSON) to inject; - is stdin")
	config.InjectFlags(cmd.Flags())
	return cmd
}

// injectOptions are the injector's options from its flags, for the webhook
// and the inject command alike.
func injectOptions(cfg config.Inject) inject.Options {
	return inject.Options{Image: cfg.Image, ControlPlane: cfg.XDS, XDSCAConfigMap: cfg.XDSCAConfigMap, Version: telemetry.Version}
}

func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("inject: %w", err)
	}
	return data, nil
}
