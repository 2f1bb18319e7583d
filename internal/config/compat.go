package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// CompatRouteName names the route built from the Proxy__ variables.
const CompatRouteName = "urimap"

func (c Compat) validate(routesFile string) []error {
	if !c.Set() {
		return nil
	}
	var errs []error
	if c.Port != "" {
		if n, err := strconv.Atoi(c.Port); err != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("config: Proxy__Port: %q is not a port (use 1 to 65535)", c.Port))
		}
	}
	if (c.Source == "") != (c.Target == "") {
		errs = append(errs, fmt.Errorf("config: Proxy__Request__UriMap__Source and Proxy__Request__UriMap__Target must be set together"))
	}
	if _, err := c.mode(); err != nil {
		errs = append(errs, err)
	}
	if routesFile != "" && (c.Source != "" || c.RejectUnknown != "") {
		errs = append(errs, fmt.Errorf("config: routes: use either --routes or the Proxy__Request__* variables, not both"))
	}
	return errs
}

func (c Compat) mode() (policy.Mode, error) {
	switch strings.ToLower(c.RejectUnknown) {
	case "", "true":
		return policy.Enforce, nil
	case "false":
		return policy.Report, nil
	}
	return "", fmt.Errorf("config: Proxy__Request__RejectUnknown: %q is not a boolean (use true or false)", c.RejectUnknown)
}

// Table builds the RouteTable the Proxy__ variables describe, or nil when
// they name no mapping and no mode.
func (c Compat) Table() (*routes.RouteTable, error) {
	if c.Source == "" && c.RejectUnknown == "" {
		return nil, nil
	}
	mode, err := c.mode()
	if err != nil {
		return nil, err
	}
	rt := &routes.RouteTable{
		APIVersion: routes.APIVersion,
		Kind:       routes.Kind,
		Metadata:   routes.Metadata{Name: "environment"},
		Spec:       routes.Spec{Mode: mode},
	}
	if c.Source != "" {
		rt.Spec.Routes = []routes.Route{{Name: CompatRouteName, Source: c.Source, Target: c.Target}}
	}
	if err := rt.Validate(); err != nil {
		return nil, fmt.Errorf("Proxy__Request__UriMap: %w", err)
	}
	return rt, nil
}
