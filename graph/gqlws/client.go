// Package gqlws is a minimal GraphQL over WebSocket client speaking the
// graphql-transport-ws protocol (the one graphql-ws and GraphiQL speak). The
// gateway's tests and its latency benchmark drive real sockets with it.
package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// Message is one protocol message.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Client is one connection. Messages of every subscription arrive on
// Messages in the order the server sent them; pings are answered.
type Client struct {
	conn     *websocket.Conn
	Messages chan Message
	// Closed receives the close status once the connection ends.
	Closed chan CloseError

	mu     sync.Mutex
	nextID int
	read   bool
}

// CloseError is how the server closed the connection.
type CloseError struct {
	Code   int
	Reason string
	Err    error
}

func (e CloseError) Error() string { return fmt.Sprintf("closed %d: %s", e.Code, e.Reason) }

// Dial opens a connection to an http(s) or ws(s) GraphQL URL and sends
// connection_init with payload. It returns after connection_ack, or with
// the close status when the server refused the connection.
// Nothing is read until Start is called, so a test can play a slow consumer.
func Dial(ctx context.Context, url string, payload map[string]any, header http.Header) (*Client, error) {
	url = strings.Replace(strings.Replace(url, "http://", "ws://", 1), "https://", "wss://", 1)
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(16 << 20)
	c := &Client{conn: conn, Messages: make(chan Message, 100000), Closed: make(chan CloseError, 1)}
	if err := c.send(ctx, Message{Type: "connection_init", Payload: mustJSON(payload)}); err != nil {
		return nil, err
	}
	m, err := c.readOne(ctx)
	if err != nil {
		return nil, err
	}
	if m.Type != "connection_ack" {
		return nil, fmt.Errorf("want connection_ack, got %s", m.Type)
	}
	return c, nil
}

// Start begins reading in the background; messages then arrive on Messages.
func (c *Client) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.read {
		return
	}
	c.read = true
	go func() {
		for {
			m, err := c.readOne(context.Background())
			if err != nil {
				var ce CloseError
				if !errors.As(err, &ce) {
					ce = CloseError{Code: -1, Err: err}
				}
				c.Closed <- ce
				close(c.Messages)
				return
			}
			switch m.Type {
			case "ping":
				_ = c.send(context.Background(), Message{Type: "pong"})
				continue
			case "pong":
				continue
			}
			c.Messages <- m
		}
	}()
}

func (c *Client) readOne(ctx context.Context) (Message, error) {
	_, data, err := c.conn.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return Message{}, CloseError{Code: int(ce.Code), Reason: ce.Reason, Err: err}
		}
		return Message{}, err
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Subscribe starts an operation and returns its id.
func (c *Client) Subscribe(ctx context.Context, query string, variables map[string]any) (string, error) {
	c.mu.Lock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	c.mu.Unlock()
	return id, c.send(ctx, Message{ID: id, Type: "subscribe", Payload: mustJSON(map[string]any{"query": query, "variables": variables})})
}

// Stop completes an operation from the client side.
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.send(ctx, Message{ID: id, Type: "complete"})
}

// Close closes the connection normally.
func (c *Client) Close() error { return c.conn.Close(websocket.StatusNormalClosure, "") }

func (c *Client) send(ctx context.Context, m Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Write(ctx, websocket.MessageText, mustJSON(m))
}

func mustJSON(v any) []byte {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Next is the payload of a "next" message.
type Next struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}
