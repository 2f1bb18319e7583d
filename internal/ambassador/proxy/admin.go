package proxy

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Explanation is what /explain answers: what would happen to a request, and
// why, without sending it.
type Explanation struct {
	URL       string   `json:"url"`
	Method    string   `json:"method"`
	Decision  string   `json:"decision"`
	Status    int      `json:"status"`
	Reason    string   `json:"reason"`
	Rule      string   `json:"rule,omitempty"`
	Route     string   `json:"route,omitempty"`
	Target    string   `json:"target,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Mode      string   `json:"mode"`
	Version   string   `json:"table_version"`
}

// Explain decides a request given as an absolute URL (http://host/path, or
// https://host:port for a CONNECT tunnel) without sending it.
func (h *Handler) Explain(r *http.Request, rawURL, method string) Explanation {
	st := h.state.Load()
	x := Explanation{URL: rawURL, Method: method, Version: st.Version, Mode: string(policy.Enforce)}
	if st.Table != nil && st.Table.Mode != "" {
		x.Mode = string(st.Table.Mode)
	}
	u, err := url.Parse(rawURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return x.failed(badRequest("url must be absolute, like http://localhost/api or https://api.example.com"))
	}
	if u.Scheme == "https" || method == http.MethodConnect {
		x.Method = http.MethodConnect
		host, port, err := policy.SplitHostPort(u.Host, 443)
		if err != nil {
			return x.failed(err)
		}
		dec, err := h.decideTunnel(r.Context(), st, host, port, http.MethodConnect)
		if err != nil {
			return x.failed(err)
		}
		return x.decided(dec, nil, hostPort(dec.Host, port, 0), port)
	}
	dest, err := destinationOf(head{method: method, url: u, host: u.Host}, &door{name: DoorExplain}, netip.AddrPort{})
	if err != nil {
		return x.failed(err)
	}
	p, err := h.plan(r.Context(), st, method, dest)
	if err != nil {
		return x.failed(err)
	}
	target := ""
	if p.upstream != nil {
		target = p.upstream.String()
	}
	return x.decided(p.decision, p.route, target, p.port)
}

func (x Explanation) failed(err error) Explanation {
	x.Decision = policy.Deny.String()
	x.Status, x.Reason = statusOf(err)
	return x
}

func (x Explanation) decided(d policy.Decision, r *routes.Compiled, target string, port uint16) Explanation {
	x.Decision, x.Reason, x.Rule, x.Route = d.Result.String(), d.Reason, d.Rule, routeName(r)
	x.Status = http.StatusOK
	if d.Result == policy.Deny {
		x.Status = http.StatusForbidden
		return x
	}
	x.Target = target
	x.Addresses = addrStrings(d.Addrs, port)
	return x
}

// ExplainHandler serves /explain?url=...&method=GET.
func (h *Handler) ExplainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.Query().Get("url")
		if raw == "" {
			writeError(w, http.StatusBadRequest, "explain: missing url parameter (use /explain?url=http://localhost/api&method=GET)")
			return
		}
		method := strings.ToUpper(r.URL.Query().Get("method"))
		if method == "" {
			method = http.MethodGet
		}
		writeJSON(w, h.Explain(r, raw, method))
	})
}

// Dump is what /config_dump answers.
type Dump struct {
	Version string             `json:"version"`
	Origin  string             `json:"origin"`
	Loaded  time.Time          `json:"loaded_at"`
	Pending string             `json:"pending,omitempty"`
	Table   *routes.RouteTable `json:"table"`
}

// ConfigDumpHandler serves /config_dump: the active table and where it came from.
func (h *Handler) ConfigDumpHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := h.state.Load()
		d := Dump{Version: st.Version, Origin: st.Origin, Loaded: st.Loaded, Pending: st.Pending}
		if st.Table != nil {
			d.Table = st.Table.Source
		}
		writeJSON(w, d)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
