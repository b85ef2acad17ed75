package main

import (
	"context"
	"log/slog"

	"github.com/codingbrain/gateway/config"
	"github.com/codingbrain/gateway/events"
	"github.com/codingbrain/gateway/graph"
	"github.com/codingbrain/gateway/stores"
	"github.com/codingbrain/gateway/stores/postgres"
)

// openEvents wires the change feed that subscriptions read. With every
// backend embedded an in-process hub is fed by the stores' own writes. With
// PostgreSQL, memory and feedback changes come from what committed there
// (a NOTIFY sent by the outbox and feedback triggers, ids only), and one
// LISTEN connection per gateway publishes them to its local hub, so a
// subscriber of one replica sees the writes made through another; the
// episodic writes are sent through the same channel by the gateway that
// made them. It returns how to stop what it started.
func openEvents(ctx context.Context, cfg config.Config, log *slog.Logger, b stores.Backends) (stores.Backends, func(), error) {
	hub := events.NewHub(cfg.SubscriptionBuffer)
	if cfg.DatabaseURL == "" {
		return events.Publishing(b, hub, hub, events.AllDomains), func() {}, nil
	}
	listener, err := postgres.ListenChanges(ctx, cfg.DatabaseURL, hub, log)
	if err != nil {
		return b, nil, err
	}
	b = events.Publishing(b, hub, listener, events.Domains{Episodic: true})
	return b, listener.Close, nil
}

// streamLimits are the limits of live connections from the settings.
func streamLimits(cfg config.Config) graph.StreamLimits {
	l := graph.DefaultStreamLimits
	l.MaxConnectionsPerTenant = cfg.MaxConnectionsPerTenant
	l.MaxSubscriptionsPerConnection = cfg.MaxSubscriptionsPerConnection
	l.QueueSize = cfg.StreamQueueSize
	l.KeepAlive = cfg.KeepAlive
	return l
}
