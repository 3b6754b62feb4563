// The Go reference peer (bench/peers/README.md): net/http + gorilla/websocket, a goroutine
// per connection, the standard HTTP client (HTTP/2 when the upstream offers it over TLS).
// Each text message is a prompt; the reply streams back as {"type":"delta"} frames, then
// {"type":"done"}.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
}

type frame struct {
	Type    string `json:"type"`
	Delta   string `json:"delta,omitempty"`
	Message string `json:"message,omitempty"`
}

func streamReply(client *http.Client, upstream, key string, conn *websocket.Conn, prompt string) error {
	body, _ := json.Marshal(map[string]any{"model": "bench", "stream": true,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	request, _ := http.NewRequest(http.MethodPost, upstream, bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Authorization", "Bearer "+key)
	response, err := client.Do(request)
	if err != nil {
		return conn.WriteJSON(frame{Type: "error", Message: err.Error()})
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return conn.WriteJSON(frame{Type: "error", Message: fmt.Sprintf("upstream status %d", response.StatusCode)})
	}
	lines := bufio.NewScanner(response.Body) // one SSE line at a time, as it arrives
	for lines.Scan() {
		line := lines.Bytes()
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		data := line[6:]
		if bytes.Equal(data, []byte("[DONE]")) {
			break
		}
		var c chunk
		if json.Unmarshal(data, &c) == nil && len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			if err := conn.WriteJSON(frame{Type: "delta", Delta: c.Choices[0].Delta.Content}); err != nil {
				return err
			}
		}
	}
	return conn.WriteJSON(frame{Type: "done"})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9102", "HOST:PORT")
	upstream := flag.String("upstream", "", "the model's chat completions URL")
	caFile := flag.String("ca-file", "", "PEM CA to trust for an https upstream")
	certFile := flag.String("cert", "", "PEM certificate: serve wss:// (with --key)")
	keyFile := flag.String("key", "", "PEM private key for --cert")
	flag.Parse()
	key := os.Getenv("BENCH_UPSTREAM_KEY")
	if key == "" {
		key = "bench"
	}
	// No per-host cap: every session streams at once.
	transport := &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 100000, MaxConnsPerHost: 0,
		ForceAttemptHTTP2: true}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			log.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: transport}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for { // prompts are answered one at a time, in order; this goroutine is the only writer
			kind, prompt, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if kind == websocket.TextMessage {
				if streamReply(client, *upstream, key, conn, string(prompt)) != nil {
					return
				}
			}
		}
	})
	server := &http.Server{Addr: *listen, Handler: mux}
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
		<-signals
		server.Close()
	}()
	fmt.Println("listening on " + *listen)
	var err error
	if *certFile != "" {
		err = server.ListenAndServeTLS(*certFile, *keyFile)
	} else {
		err = server.ListenAndServe()
	}
	if err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
