package upstream

import "errors"

// kind classifies the outcome of one try.
type kind uint8

const (
	kindResponse       kind = iota // response headers arrived
	kindConnectFailure             // no connection: nothing was sent
	kindReset                      // the upstream failed before response headers
	kindPerTryTimeout              // the try ran out of time
	kindTimeout                    // the call ran out of time
	kindCanceled                   // the client went away
	kindError                      // the try could not be made (body replay failed)
)

// String is the metric label value of the outcome.
func (k kind) String() string {
	switch k {
	case kindConnectFailure:
		return resultConnectFailure
	case kindReset:
		return resultReset
	case kindPerTryTimeout:
		return resultPerTryTimeout
	case kindTimeout:
		return resultTimeout
	case kindCanceled:
		return resultCanceled
	case kindError:
		return resultError
	}
	return resultResponse
}

// dialError is the *DialError in err's chain, or nil. It is a function so
// that the target of errors.As escapes only on the error path.
func dialError(err error) *DialError {
	var de *DialError
	if errors.As(err, &de) {
		return de
	}
	return nil
}
