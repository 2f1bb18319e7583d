package xds

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

func node(meta map[string]string) *core.Node {
	n := &core.Node{Id: "pod-1", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{}}}
	for k, v := range meta {
		n.Metadata.Fields[k] = structpb.NewStringValue(v)
	}
	return n
}

func TestAuthorize(t *testing.T) {
	token := Identity{Via: ViaToken, Subject: "system:serviceaccount:team-a:default", Namespace: "team-a"}
	spiffe := Identity{Via: ViaCertificate, Subject: "spiffe://mesh.test/ns/team-a/sa/web", Namespace: "team-a", Workload: "web"}
	cn := Identity{Via: ViaCertificate, Subject: "CN=web", Workload: "web"}
	cases := []struct {
		name   string
		id     Identity
		req    request
		reason string // "" = allowed
	}{
		{"token reads a table of its namespace", token, request{names: []string{"team-a/web"}}, ""},
		{"token reads several tables of its namespace", token, request{names: []string{"team-a/web", "team-a/shop"}}, ""},
		{"token may not read another namespace's table", token, request{names: []string{"team-b/web"}}, ReasonNamespace},
		{"one foreign name refuses the whole request", token, request{names: []string{"team-a/web", "team-b/web"}}, ReasonNamespace},
		{"token reads no plain (directory) table", token, request{names: []string{"web"}}, ReasonNamespace},
		{"token may not subscribe to everything", token, request{wildcard: true}, ReasonWildcard},
		{"explicit * is a wildcard", token, request{names: []string{"*"}}, ReasonWildcard},
		{"name with an extra slash", token, request{names: []string{"team-a/web/x"}}, ReasonNamespace},
		{"name with an empty namespace", token, request{names: []string{"/web"}}, ReasonNamespace},
		{"node metadata namespace agrees", token, request{node: node(map[string]string{"namespace": "team-a", "workload": "any"}), names: []string{"team-a/any"}}, ""},
		{"node metadata namespace disagrees", token, request{node: node(map[string]string{"namespace": "team-b"}), names: []string{"team-a/web"}}, ReasonNodeMetadata},
		{"spiffe workload reads its own table", spiffe, request{names: []string{"team-a/web"}}, ""},
		{"spiffe workload reads its own plain (directory) table", spiffe, request{names: []string{"web"}}, ""},
		{"spiffe workload may not read a neighbour's table", spiffe, request{names: []string{"team-a/shop"}}, ReasonWorkload},
		{"spiffe workload may not read a neighbour's plain table", spiffe, request{names: []string{"shop"}}, ReasonWorkload},
		{"spiffe workload may not read its name in another namespace", spiffe, request{names: []string{"team-b/web"}}, ReasonNamespace},
		{"spiffe node metadata workload disagrees", spiffe, request{node: node(map[string]string{"workload": "shop"}), names: []string{"team-a/web"}}, ReasonNodeMetadata},
		{"CN workload reads its plain table", cn, request{node: node(map[string]string{"workload": "web"}), names: []string{"web"}}, ""},
		{"CN workload may not read another table", cn, request{names: []string{"shop"}}, ReasonWorkload},
		{"CN identity reads no namespaced table", cn, request{names: []string{"team-a/web"}}, ReasonNamespace},
		{"CN identity ignores a namespace it cannot contradict", cn, request{node: node(map[string]string{"namespace": "x"}), names: []string{"web"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := authorize(c.id, c.req)
			if d.Allowed != (c.reason == "") || d.Reason != c.reason {
				t.Fatalf("authorize = %+v, want reason %q", d, c.reason)
			}
			if !d.Allowed && !strings.Contains(d.Detail, c.id.Subject) {
				t.Errorf("detail %q does not name who asked (%s)", d.Detail, c.id.Subject)
			}
			for _, name := range c.req.names {
				if !d.Allowed && c.reason != ReasonNodeMetadata && c.reason != ReasonWildcard && !strings.Contains(d.Detail, name) &&
					authorizeName(c.id, name).Reason != "" {
					t.Errorf("detail %q does not name what was asked (%s)", d.Detail, name)
				}
			}
		})
	}
}

func TestCertIdentity(t *testing.T) {
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cases := []struct {
		name        string
		cn          string
		uris        []string
		trustDomain string
		want        Identity
		err         string
	}{
		{"spiffe gives namespace and workload", "ignored", []string{"spiffe://mesh.test/ns/team-a/sa/web"}, "",
			Identity{Via: ViaCertificate, Subject: "spiffe://mesh.test/ns/team-a/sa/web", Namespace: "team-a", Workload: "web"}, ""},
		{"spiffe in the configured trust domain", "", []string{"spiffe://mesh.test/ns/a/sa/w"}, "mesh.test",
			Identity{Via: ViaCertificate, Subject: "spiffe://mesh.test/ns/a/sa/w", Namespace: "a", Workload: "w"}, ""},
		{"spiffe in another trust domain", "", []string{"spiffe://other/ns/a/sa/w"}, "mesh.test", Identity{}, "trust domain"},
		{"spiffe of another shape", "", []string{"spiffe://mesh.test/workload/w"}, "", Identity{}, "want spiffe://"},
		{"two spiffe ids", "", []string{"spiffe://t/ns/a/sa/w", "spiffe://t/ns/b/sa/w"}, "", Identity{}, "2 SPIFFE"},
		{"CN alone is the workload", "web", nil, "", Identity{Via: ViaCertificate, Subject: "CN=web", Workload: "web"}, ""},
		{"a non-spiffe URI leaves the CN", "web", []string{"https://example.com/x"}, "", Identity{Via: ViaCertificate, Subject: "CN=web", Workload: "web"}, ""},
		{"CN alone with a trust domain required", "web", nil, "mesh.test", Identity{}, "no SPIFFE ID"},
		{"no CN and no URI", "", nil, "", Identity{}, "names no workload"},
		{"CN with a slash", "team-a/web", nil, "", Identity{}, "names no workload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert := &x509.Certificate{Subject: pkix.Name{CommonName: c.cn}}
			for _, s := range c.uris {
				cert.URIs = append(cert.URIs, uri(s))
			}
			got, err := certIdentity(cert, c.trustDomain)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to mention %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("certIdentity = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestTokenIdentity(t *testing.T) {
	id, err := tokenIdentity("system:serviceaccount:team-a:web-sa")
	if err != nil || id.Namespace != "team-a" || id.Workload != "" || id.Via != ViaToken {
		t.Fatalf("tokenIdentity = %+v, %v", id, err)
	}
	for _, user := range []string{"alice", "system:serviceaccount:team-a", "system:serviceaccount::x", "system:serviceaccount:a:b:c"} {
		if _, err := tokenIdentity(user); err == nil {
			t.Errorf("tokenIdentity(%q) accepted", user)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		values []string
		want   string
		ok     bool
	}{
		{nil, "", true},
		{[]string{"Bearer abc"}, "abc", true},
		{[]string{"bearer  abc "}, "abc", true},
		{[]string{"Basic abc"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Bearer a", "Bearer b"}, "", false},
	}
	for _, c := range cases {
		got, err := bearerToken(c.values)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("bearerToken(%q) = %q, %v", c.values, got, err)
		}
	}
}
