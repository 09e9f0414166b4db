// Command bare is the seed's Flask greeter written with net/http only: the
// floor every server in this module is measured against (GET
// /greet?name=Alice, plus /healthz for the harness to wait on). No
// sessions, no logging, no metrics.
//
// -timeouts and -headers add two things the example server does on every
// request, to measure what they cost a bare server: its read and write
// timeouts (ReadTimeout 10s, WriteTimeout 15s), and its two extra
// response headers (X-Content-Type-Options: nosniff, X-Served-By).
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address")
	timeouts := flag.Bool("timeouts", false, "set the example server's ReadTimeout and WriteTimeout")
	headers := flag.Bool("headers", false, "send the example server's X-Content-Type-Options and X-Served-By")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			name = "World"
		}
		w.Header().Set("Content-Type", "application/json")
		if *headers {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("X-Served-By", "bare")
		}
		json.NewEncoder(w).Encode(struct {
			Message string `json:"message"`
		}{"Hello, " + name + "!"})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	if *timeouts {
		srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 15*time.Second
	}
	log.Fatal(srv.ListenAndServe())
}
