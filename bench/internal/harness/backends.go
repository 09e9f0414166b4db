package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartRedis starts redis-server on 127.0.0.1:port with persistence off and
// its files in dir, and waits until it answers PING. It returns the URL of
// database 0.
func StartRedis(ctx context.Context, dir string, port int) (string, *Proc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server not found (apt-get install -y redis-server): %w", err)
	}
	p, err := Start("redis-server", filepath.Join(dir, "redis.log"), []string{bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--maxclients", "10000",
	}, nil)
	if err != nil {
		return "", nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(addr) == nil {
			return "redis://" + addr + "/0", p, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop()
			return "", nil, fmt.Errorf("redis-server on %s did not start: %s", addr, p.LogTail(5))
		}
		select {
		case <-ctx.Done():
			p.Stop()
			return "", nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// PostgresOptions tune StartPostgres.
type PostgresOptions struct {
	// BinDir holds initdb and postgres; empty: the newest
	// /usr/lib/postgresql/*/bin, else $PATH.
	BinDir string
	// NonDurable turns off fsync, synchronous_commit and full_page_writes:
	// faster, and fair to both servers, but not how production runs.
	NonDurable bool
}

// StartPostgres initialises a throwaway cluster in dir (superuser "bench",
// trust authentication on loopback only), starts it on 127.0.0.1:port and
// waits until it accepts queries. Run as root, the server runs as the
// "postgres" user, as PostgreSQL requires. It returns a pgx URL.
func StartPostgres(ctx context.Context, dir string, port int, o PostgresOptions) (string, *Proc, error) {
	binDir := o.BinDir
	if binDir == "" {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(matches) > 0 {
			binDir = filepath.Dir(matches[len(matches)-1])
		}
	}
	initdb, postgres := filepath.Join(binDir, "initdb"), filepath.Join(binDir, "postgres")
	if binDir == "" {
		var err error
		if initdb, err = exec.LookPath("initdb"); err != nil {
			return "", nil, fmt.Errorf("initdb not found (apt-get install -y postgresql): %w", err)
		}
		postgres = filepath.Join(filepath.Dir(initdb), "postgres")
	}

	data := filepath.Join(dir, "pgdata")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return "", nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, fmt.Errorf("running as root needs a postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chown(dir, uid, gid)
		if err := os.Chown(data, uid, gid); err != nil {
			return "", nil, err
		}
	}

	ip, err := Start("initdb", filepath.Join(dir, "initdb.log"), []string{initdb,
		"-D", data, "-U", "bench", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions",
	}, cred)
	if err != nil {
		return "", nil, err
	}
	<-ip.done
	if ip.err != nil {
		return "", nil, fmt.Errorf("initdb: %v: %s", ip.err, ip.LogTail(5))
	}

	args := []string{postgres, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + data,
		"-c", "max_connections=200", "-c", "shared_buffers=256MB",
	}
	if o.NonDurable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	p, err := Start("postgres", filepath.Join(dir, "postgres.log"), args, cred)
	if err != nil {
		return "", nil, err
	}
	p.SetStopSignal(syscall.SIGINT) // fast shutdown
	url := fmt.Sprintf("postgres://bench@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, url)
		if err == nil {
			err = conn.Ping(cctx)
			conn.Close(cctx)
		}
		cancel()
		if err == nil {
			return url, p, nil
		}
		if p.Exited() || time.Now().After(deadline) {
			p.Stop()
			return "", nil, fmt.Errorf("postgres on port %d did not start: %v: %s", port, err, p.LogTail(5))
		}
		select {
		case <-ctx.Done():
			p.Stop()
			return "", nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
