package routes

import "strconv"

// RetryOn is the parsed set of retry conditions of a route.
type RetryOn struct {
	ConnectFailure bool  // the connection could not be made (dial or DNS failure)
	Reset          bool  // the connection was reset or closed before a response
	Status5xx      bool  // any 5xx response
	GatewayError   bool  // 502, 503 or 504
	Codes          []int // these statuses (500-599), in the order written
}

// DefaultRetryOn is what an empty retry.retryOn means: connect-failure and
// gateway-error.
func DefaultRetryOn() RetryOn { return RetryOn{ConnectFailure: true, GatewayError: true} }

// RetriesStatus reports whether a response with this status is retried.
func (o RetryOn) RetriesStatus(code int) bool {
	switch {
	case o.Status5xx && code >= 500 && code <= 599:
		return true
	case o.GatewayError && (code == 502 || code == 503 || code == 504):
		return true
	}
	return o.hasCode(code)
}

// Conditions returns the retry conditions as written: RetryOn, or its
// deprecated alias On when only that is set.
func (rp *RetryPolicy) Conditions() []string {
	if rp.RetryOn == nil {
		return rp.On
	}
	return rp.RetryOn
}

// parseRetryOn reads validated retry.retryOn values; empty means the default.
func parseRetryOn(values []string) RetryOn {
	if len(values) == 0 {
		return DefaultRetryOn()
	}
	var o RetryOn
	for _, v := range values {
		c, _ := parseCondition(v)
		switch {
		case c.code != 0:
			if !o.hasCode(c.code) {
				o.Codes = append(o.Codes, c.code)
			}
		case c.name == "connect-failure":
			o.ConnectFailure = true
		case c.name == "reset":
			o.Reset = true
		case c.name == "5xx":
			o.Status5xx = true
		case c.name == "gateway-error":
			o.GatewayError = true
		}
	}
	return o
}

// hasCode reports whether code is listed in Codes.
func (o RetryOn) hasCode(code int) bool {
	for _, c := range o.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// condition is one retry.retryOn value: a name or a status code.
type condition struct {
	name string
	code int
}

// parseCondition reads a retry.retryOn value: a named condition or a three-digit
// status 500-599.
func parseCondition(v string) (condition, bool) {
	for _, n := range retryConditions {
		if v == n {
			return condition{name: n}, true
		}
	}
	if len(v) != 3 {
		return condition{}, false
	}
	code, err := strconv.Atoi(v)
	if err != nil || code < 500 || code > 599 {
		return condition{}, false
	}
	return condition{code: code}, true
}
