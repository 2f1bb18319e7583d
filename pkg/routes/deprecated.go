package routes

import "strconv"

// Warning is a problem that does not stop a table from loading: a
// deprecated field, with its path, its YAML line and what to write instead.
// Error() reads like FieldError's.
type Warning = FieldError

// retryOnAlias is the warning for a retry.on key.
const retryOnAlias = "deprecated: rename on to retryOn (a YAML 1.1 reader such as kubectl reads an unquoted " +
	"on: key as the boolean true, so this table cannot be applied as a RouteTable resource)"

// moveDeprecated rewrites deprecated fields of a freshly decoded table into
// their current names and returns one warning per field moved. A retry
// that gives both on and retryOn keeps both, for validate to refuse.
// lineOf gives the YAML line of a field path.
func (rt *RouteTable) moveDeprecated(lineOf func(path string) int) []*Warning {
	var warnings []*Warning
	for i := range rt.Spec.Routes {
		rp := rt.Spec.Routes[i].Retry
		if rp == nil || rp.On == nil || rp.RetryOn != nil {
			continue
		}
		path := "spec.routes[" + strconv.Itoa(i) + "].retry.on"
		rp.RetryOn, rp.On = rp.On, nil
		warnings = append(warnings, &Warning{Path: path, Line: lineOf(path), Msg: retryOnAlias})
	}
	return warnings
}
