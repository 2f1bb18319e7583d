package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

const (
	// maxReplayBody is the largest request body buffered for replay.
	maxReplayBody = 64 << 10
	// maxDrain bounds what is read from a response that is retried, so its
	// connection can be reused.
	maxDrain = 4 << 10
	// drainTimeout bounds how long draining a retried response may take.
	drainTimeout = 250 * time.Millisecond
)

// reqBody hands each try a request body.
type reqBody struct {
	getBody func() (io.ReadCloser, error) // replayable source; nil with stream
	stream  io.ReadCloser                 // sent once, not replayable
	rewind  func() (io.ReadCloser, error) // the stream's own GetBody, if any
	used    bool
}

// newReqBody prepares req's body for tries. Without retries the body is
// passed through; otherwise it is replayed from GetBody, buffered when it
// is at most maxReplayBody, or else streamed once.
func newReqBody(req *http.Request, retries bool) (*reqBody, error) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return &reqBody{getBody: noBody}, nil
	case !retries:
		return &reqBody{stream: req.Body, rewind: req.GetBody}, nil
	case req.GetBody != nil:
		req.Body.Close()
		return &reqBody{getBody: req.GetBody}, nil
	case req.ContentLength > maxReplayBody:
		return &reqBody{stream: req.Body}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
	if err != nil {
		req.Body.Close()
		return nil, fmt.Errorf("upstream: reading request body: %w", err)
	}
	if len(buf) > maxReplayBody {
		return &reqBody{stream: readCloser{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}}, nil
	}
	req.Body.Close()
	return &reqBody{getBody: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(buf)), nil
	}}, nil
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

type readCloser struct {
	io.Reader
	io.Closer
}

// replayable reports whether another try can send the body again.
func (b *reqBody) replayable() bool { return b.stream == nil }

// next returns the body and GetBody for one try.
func (b *reqBody) next() (io.ReadCloser, func() (io.ReadCloser, error), error) {
	if b.stream != nil {
		if b.used {
			return nil, nil, errors.New("upstream: request body already sent")
		}
		b.used = true
		return b.stream, b.rewind, nil
	}
	rc, err := b.getBody()
	if err != nil {
		return nil, nil, fmt.Errorf("upstream: replaying request body: %w", err)
	}
	if rc == http.NoBody {
		return nil, nil, nil
	}
	return rc, b.getBody, nil
}

// drain reads a little of a response that will be retried, so that its
// connection can be reused, and closes it. cancel aborts a slow body.
func drain(res *http.Response, cancel context.CancelCauseFunc) {
	t := time.AfterFunc(drainTimeout, func() { cancel(errDrainLimit) })
	io.CopyN(io.Discard, res.Body, maxDrain)
	t.Stop()
	res.Body.Close()
}

// respBody is the body handed to the caller: closing it ends the call
// (stops its timers, releases its contexts), and reads that fail because
// the call timed out report the *TimeoutError.
type respBody struct {
	io.ReadCloser
	ctx  context.Context
	done func()
}

func (b *respBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		var te *TimeoutError
		if errors.As(context.Cause(b.ctx), &te) {
			err = te
		}
	}
	return n, err
}

func (b *respBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

// upgradeBody is respBody for a 101 Switching Protocols response, whose body
// is the upgraded connection and must stay writable.
type upgradeBody struct {
	respBody
	w io.Writer
}

func (b *upgradeBody) Write(p []byte) (int, error) { return b.w.Write(p) }

// wrapBody installs the call's body wrapper on res.
func wrapBody(res *http.Response, ctx context.Context, done func()) {
	rb := respBody{ReadCloser: res.Body, ctx: ctx, done: done}
	if w, ok := res.Body.(io.Writer); ok && res.StatusCode == http.StatusSwitchingProtocols {
		res.Body = &upgradeBody{respBody: rb, w: w}
		return
	}
	res.Body = &rb
}
