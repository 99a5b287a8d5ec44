package apiclient

import (
	"context"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
)

const (
	targetPath = clientPath + "/targets/{target}"
	runPath    = clientPath + "/rotation-runs/{run}"
)

// TargetCreated is the response to CreateTarget: the target and, for a
// webhook target created without a signing secret, the generated one.
type TargetCreated = httpapi.TargetCreated

// GetDomainRotation returns the rotation schedule the domain's clients
// inherit.
func (c *Client) GetDomainRotation(ctx context.Context, domain string) (watchword.RotationSchedule, error) {
	return call[watchword.RotationSchedule](ctx, c, "GET", domainPath+"/rotation-schedule", nil, nil, domain)
}

// SetDomainRotation replaces the domain's rotation schedule.
func (c *Client) SetDomainRotation(ctx context.Context, domain string, sc watchword.RotationSchedule) (watchword.RotationSchedule, error) {
	return call[watchword.RotationSchedule](ctx, c, "PUT", domainPath+"/rotation-schedule", nil, sc, domain)
}

// GetClientRotation returns the client's schedule override, the schedule in
// effect and when it next runs.
func (c *Client) GetClientRotation(ctx context.Context, domain, client string) (lifecycle.ClientRotation, error) {
	return call[lifecycle.ClientRotation](ctx, c, "GET", clientPath+"/rotation-schedule", nil, nil, domain, client)
}

// SetClientRotation gives the client its own rotation schedule; an empty
// one turns automated rotation off for it.
func (c *Client) SetClientRotation(ctx context.Context, domain, client string, sc watchword.RotationSchedule) (lifecycle.ClientRotation, error) {
	return call[lifecycle.ClientRotation](ctx, c, "PUT", clientPath+"/rotation-schedule", nil, sc, domain, client)
}

// DeleteClientRotation returns the client to the domain's rotation schedule.
func (c *Client) DeleteClientRotation(ctx context.Context, domain, client string) (lifecycle.ClientRotation, error) {
	return call[lifecycle.ClientRotation](ctx, c, "DELETE", clientPath+"/rotation-schedule", nil, nil, domain, client)
}

// ListTargets returns the client's delivery targets, without credentials.
func (c *Client) ListTargets(ctx context.Context, domain, client string) (List[lifecycle.TargetView], error) {
	return call[List[lifecycle.TargetView]](ctx, c, "GET", clientPath+"/targets", nil, nil, domain, client)
}

// CreateTarget adds a delivery target to the client; a generated webhook
// signing secret is in the result only.
func (c *Client) CreateTarget(ctx context.Context, domain, client string, in lifecycle.TargetCreate) (TargetCreated, error) {
	return call[TargetCreated](ctx, c, "POST", clientPath+"/targets", nil, in, domain, client)
}

// UpdateTarget changes a delivery target named by id or name.
func (c *Client) UpdateTarget(ctx context.Context, domain, client, target string, u lifecycle.TargetUpdate) (lifecycle.TargetView, error) {
	return call[lifecycle.TargetView](ctx, c, "PATCH", targetPath, nil, u, domain, client, target)
}

// DeleteTarget removes a delivery target by id or name.
func (c *Client) DeleteTarget(ctx context.Context, domain, client, target string) error {
	_, err := call[none](ctx, c, "DELETE", targetPath, nil, nil, domain, client, target)
	return err
}

// StartRotation starts an automated rotation run of the client now; the
// server carries it out in the background.
func (c *Client) StartRotation(ctx context.Context, domain, client string) (watchword.RotationRun, error) {
	return call[watchword.RotationRun](ctx, c, "POST", clientPath+"/rotation-runs", nil, nil, domain, client)
}

// ListRotationRuns returns a page of the client's rotation runs, newest
// first; zero offset and limit mean the server's defaults.
func (c *Client) ListRotationRuns(ctx context.Context, domain, client string, offset, limit int) (List[watchword.RotationRun], error) {
	return call[List[watchword.RotationRun]](ctx, c, "GET", clientPath+"/rotation-runs", page(offset, limit), nil, domain, client)
}

// GetRotationRun returns one run of the client, with its steps.
func (c *Client) GetRotationRun(ctx context.Context, domain, client, run string) (watchword.RotationRun, error) {
	return call[watchword.RotationRun](ctx, c, "GET", runPath, nil, nil, domain, client, run)
}

// RetryRotationRun starts a failed run again from its first step, or makes
// a running run that waits to retry a step try it now.
func (c *Client) RetryRotationRun(ctx context.Context, domain, client, run string) (watchword.RotationRun, error) {
	return call[watchword.RotationRun](ctx, c, "POST", runPath+"/retry", nil, nil, domain, client, run)
}

// CancelRotationRun asks a running run to stop (reason "" for the default).
func (c *Client) CancelRotationRun(ctx context.Context, domain, client, run, reason string) (watchword.RotationRun, error) {
	return call[watchword.RotationRun](ctx, c, "POST", runPath+"/cancel", nil, httpapi.RunCancel{Reason: reason}, domain, client, run)
}
