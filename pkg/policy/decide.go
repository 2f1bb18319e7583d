package policy

import (
	"context"
	"errors"
)

// Decide judges req: normalises the host, matches the allowlist, resolves the
// name and checks every address (address guard). A denial is a Decision; the
// error is for malformed input (*InputError → 400) and resolution failures
// (*ResolveError → 502).
func (p *Policy) Decide(ctx context.Context, req Request) (Decision, error) {
	return Decision{}, errors.New("policy: Decide is not implemented yet")
}
