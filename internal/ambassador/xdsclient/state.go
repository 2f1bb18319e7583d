package xdsclient

import "time"

// State is what the client knows about its connection, for status pages
// and readiness.
type State struct {
	// Connected is true while an ADS stream is open.
	Connected bool
	// Version is the version_info of the last table applied and ACKed; ""
	// until one is.
	Version string
	// LastError is the last reason a stream failed or could not be opened;
	// "" if none has.
	LastError string
	// LastNACK is the reason the last rejected table was rejected; "" if
	// none was.
	LastNACK string
	// Since is when Connected last changed (or when the client was made).
	Since time.Time
}

// State returns a snapshot of the client's state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Client) setConnected(connected bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Connected != connected {
		c.state.Connected, c.state.Since = connected, time.Now()
	}
	if connected {
		c.metrics.connected.Set(1)
	} else {
		c.metrics.connected.Set(0)
	}
}

func (c *Client) setError(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.LastError = err.Error()
}

func (c *Client) setVersion(version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Version = version
}

func (c *Client) setNACK(detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.LastNACK = detail
}

// version returns the version of the last good table.
func (c *Client) version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.Version
}
