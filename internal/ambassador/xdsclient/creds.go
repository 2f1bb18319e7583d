package xdsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshlite/meshlite/internal/reload"
)

// Security is how the client proves the control plane's identity and its
// own. The zero value is plaintext, as before TLS.
type Security struct {
	// CAFile (PEM) turns TLS on and verifies the control plane's
	// certificate against it, re-read when it changes. The other fields
	// need it.
	CAFile string
	// ServerName is the name the control plane's certificate must carry;
	// "" means the host of Addr.
	ServerName string
	// CertFile and KeyFile (PEM) are the client certificate for mutual TLS
	// (the workload's identity outside Kubernetes), re-read when they
	// change.
	CertFile, KeyFile string
	// TokenFile holds a bearer token (a projected ServiceAccount token,
	// audience meshlite), re-read when the kubelet rotates it and sent as
	// "authorization: Bearer <token>" on every stream, over TLS only.
	TokenFile string
}

// dialOptions returns the transport and per-RPC credentials sec asks for;
// the files are loaded now, so a missing one stops the start.
func (sec Security) dialOptions(log *slog.Logger) ([]grpc.DialOption, error) {
	if sec.CAFile == "" {
		if sec.CertFile != "" || sec.KeyFile != "" || sec.TokenFile != "" || sec.ServerName != "" {
			return nil, errors.New("xdsclient: a client certificate, token or server name needs TLS: give the CA file too")
		}
		return nil, nil
	}
	if (sec.CertFile == "") != (sec.KeyFile == "") {
		return nil, errors.New("xdsclient: the client certificate and key go together")
	}
	roots, err := reload.NewCertPool("xds CA", sec.CAFile, log)
	if err != nil {
		return nil, fmt.Errorf("xdsclient: %w", err)
	}
	tc := &reloadingTLS{roots: roots, serverName: sec.ServerName}
	if sec.CertFile != "" {
		if tc.cert, err = reload.NewKeyPair("xds client certificate", sec.CertFile, sec.KeyFile, log); err != nil {
			return nil, fmt.Errorf("xdsclient: %w", err)
		}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(tc)}
	if sec.TokenFile != "" {
		tok, err := reload.NewToken("xds token", sec.TokenFile, log)
		if err != nil {
			return nil, fmt.Errorf("xdsclient: %w", err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{tok}))
	}
	return opts, nil
}

// reloadingTLS is TLS whose roots and client certificate are read as they
// are at each handshake, so a rotated CA bundle or certificate is used by
// the next connection.
type reloadingTLS struct {
	roots      *reload.CertPool
	cert       *reload.KeyPair // nil: no client certificate
	serverName string
}

var _ credentials.TransportCredentials = (*reloadingTLS)(nil)

func (r *reloadingTLS) current() credentials.TransportCredentials {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: r.roots.Pool(), ServerName: r.serverName}
	if r.cert != nil {
		cfg.GetClientCertificate = r.cert.GetClientCertificate
	}
	return credentials.NewTLS(cfg)
}

func (r *reloadingTLS) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.current().ClientHandshake(ctx, authority, conn)
}

func (r *reloadingTLS) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("xdsclient: client-side credentials only")
}

func (r *reloadingTLS) Info() credentials.ProtocolInfo { return r.current().Info() }

func (r *reloadingTLS) Clone() credentials.TransportCredentials {
	c := *r
	return &c
}

// OverrideServerName is deprecated in gRPC; ServerName is set instead.
func (r *reloadingTLS) OverrideServerName(name string) error {
	r.serverName = name
	return nil
}

// bearer sends the token file's current token on every stream.
type bearer struct{ tok *reload.Token }

var _ credentials.PerRPCCredentials = bearer{}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.tok.Value()}, nil
}

// RequireTransportSecurity keeps the token off plaintext connections.
func (bearer) RequireTransportSecurity() bool { return true }
