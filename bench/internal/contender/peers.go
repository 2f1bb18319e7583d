package contender

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
)

// Nginx is a reverse proxy with one worker, upstream keepalive and an access
// log written to a file.
type Nginx struct{ Binary string }

// HAProxy is a reverse proxy with one thread, connection reuse to the
// upstream and an HTTP log written to a file.
type HAProxy struct{ Binary string }

// Squid is an allowlisting forward proxy: one process, ACLs that allow only
// the upstream's name and port, no cache, an access log written to a file.
type Squid struct{ Binary string }

var (
	_ Contender = Nginx{}
	_ Contender = HAProxy{}
	_ Contender = Squid{}
)

func (Nginx) Name() string { return "nginx" }
func (Nginx) Describe() string {
	return "reverse proxy, 1 worker, upstream keepalive, access_log to a file"
}
func (HAProxy) Name() string { return "haproxy" }
func (HAProxy) Describe() string {
	return "reverse proxy, nbthread 1, http-reuse always, httplog to a file"
}
func (Squid) Name() string { return "squid" }
func (Squid) Describe() string {
	return "forward proxy, 1 process, dstdomain+port allowlist, no cache, access_log to a file"
}

const nginxConf = `daemon off;
master_process on;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 4096; }
http {
    access_log {{.Dir}}/access.log;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy_temp;
    keepalive_requests 10000000;
    upstream backend {
        server {{.Upstream}};
        keepalive 32;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:{{.Port}};
        location {{.ProxiedPath}} {
            proxy_pass http://backend{{.UpstreamPath}};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

func (n Nginx) Start(_ context.Context, env Env) (*Instance, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(env.Dir, "nginx.conf")
	if err := writeTemplate(conf, nginxConf, confData(env, port)); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	d, err := startDaemon(env, "nginx", []string{n.Binary, "-p", env.Dir, "-c", conf, "-e", filepath.Join(env.Dir, "error.log")}, "")
	if err != nil {
		return nil, err
	}
	return &Instance{
		Target:  Target{URL: fmt.Sprintf("http://127.0.0.1:%d%s", port, ProxiedPath)},
		PID:     d.pid(),
		LogFile: filepath.Join(env.Dir, "access.log"),
		proc:    d,
	}, nil
}

const haproxyConf = `global
    nbthread 1
    maxconn 4096
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend bench
    bind 127.0.0.1:{{.Port}}
    default_backend upstream
backend upstream
    http-request replace-path ^{{.ProxiedPath}}(.*) {{.UpstreamPath}}\1
    server up {{.Upstream}}
`

func (h HAProxy) Start(_ context.Context, env Env) (*Instance, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(env.Dir, "haproxy.cfg")
	if err := writeTemplate(conf, haproxyConf, confData(env, port)); err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	logFile := filepath.Join(env.Dir, "access.log")
	d, err := startDaemon(env, "haproxy", []string{h.Binary, "-db", "-f", conf}, logFile)
	if err != nil {
		return nil, err
	}
	return &Instance{
		Target:  Target{URL: fmt.Sprintf("http://127.0.0.1:%d%s", port, ProxiedPath)},
		PID:     d.pid(),
		LogFile: logFile,
		proc:    d,
	}, nil
}

// squidUpstreamName is the name clients ask squid for; squid resolves it
// from a private hosts file, so the allowlist is a dstdomain ACL.
const squidUpstreamName = "upstream.bench"

const squidConf = `http_port 127.0.0.1:{{.Port}}
workers 1
pid_filename {{.Dir}}/squid.pid
cache_log {{.Dir}}/cache.log
access_log stdio:{{.Dir}}/access.log
logfile_rotate 0
coredump_dir {{.Dir}}
hosts_file {{.Dir}}/hosts
cache deny all
cache_mem 0 MB
pinger_enable off
shutdown_lifetime 0 seconds
max_filedescriptors 4096
acl upstream_host dstdomain -n {{.UpstreamName}}
acl upstream_port port {{.UpstreamPort}}
http_access allow upstream_host upstream_port
http_access deny all
`

func (s Squid) Start(_ context.Context, env Env) (*Instance, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	data := confData(env, port)
	hosts := filepath.Join(env.Dir, "hosts")
	if err := os.WriteFile(hosts, []byte(data.UpstreamHost+" "+squidUpstreamName+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("squid: %w", err)
	}
	conf := filepath.Join(env.Dir, "squid.conf")
	if err := writeTemplate(conf, squidConf, data); err != nil {
		return nil, fmt.Errorf("squid: %w", err)
	}
	if err := giveToProxyUser(env.Dir); err != nil {
		return nil, err
	}
	// -N: stay in the foreground as a single process (no master/kid split).
	d, err := startDaemon(env, "squid", []string{s.Binary, "-N", "-f", conf}, "")
	if err != nil {
		return nil, err
	}
	proxy := &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
	return &Instance{
		Target:  Target{URL: fmt.Sprintf("http://%s:%s%s", squidUpstreamName, data.UpstreamPort, UpstreamPath), Proxy: proxy},
		PID:     d.pid(),
		LogFile: filepath.Join(env.Dir, "access.log"),
		proc:    d,
	}, nil
}

// giveToProxyUser lets squid, which drops root for its effective user
// ("proxy" on Debian), write its logs in dir.
func giveToProxyUser(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("proxy")
	if err != nil {
		return fmt.Errorf("squid: user for cache_effective_user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("squid: %w", err)
	}
	return nil
}

type confValues struct {
	Dir, Upstream, UpstreamHost, UpstreamPort string
	UpstreamName, ProxiedPath, UpstreamPath   string
	Port                                      int
}

func confData(env Env, port int) confValues {
	host, p, _ := strings.Cut(env.Upstream, ":")
	return confValues{
		Dir: env.Dir, Upstream: env.Upstream, UpstreamHost: host, UpstreamPort: p,
		UpstreamName: squidUpstreamName, ProxiedPath: ProxiedPath, UpstreamPath: UpstreamPath,
		Port: port,
	}
}

func writeTemplate(path, text string, data any) error {
	t, err := template.New(filepath.Base(path)).Parse(text)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.Execute(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Version returns the first line a binary prints about its version, or "".
func Version(binary string, args ...string) string {
	out, _ := exec.Command(binary, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
