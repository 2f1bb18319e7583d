// Command demo runs the seed scenario on loopback: stand-ins for the numbers
// API and the time-check service, the ambassador with an embedded RouteTable,
// a mapped call, denied calls, an /explain call and the audit lines.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/meshlite/meshlite/internal/demo"
)

//go:embed routes.yaml.tmpl
var routesTemplate string

func main() {
	bin := flag.String("ambassador", "bin/ambassador", "path to the ambassador binary")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s := &demo.Scenario{Ambassador: *bin, Routes: routesTemplate, Out: os.Stdout}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("\ndemo complete: mapped, denied with reasons, explained, audited.")
}
