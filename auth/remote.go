package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The defaults of RemoteOptions.
const (
	DefaultRemoteTimeout            = 5 * time.Second
	DefaultRemoteMaxBytes           = 1 << 20 // 1 MiB
	DefaultRemoteMinRefreshInterval = 10 * time.Second
	DefaultRemoteRefreshEvery       = 5 * time.Minute
	// MaxRemoteRefreshEvery caps the refresh interval a response's max-age
	// can ask for.
	MaxRemoteRefreshEvery = time.Hour
)

// RemoteOptions configure RemoteKeys.
type RemoteOptions struct {
	// Client makes the requests; nil means a client that refuses
	// redirects from https to http. Timeout applies either way.
	Client *http.Client
	// Timeout bounds one fetch, from request to the body's last byte; 0
	// means DefaultRemoteTimeout (5 s).
	Timeout time.Duration
	// MaxBytes caps the response body; a larger one is an error. 0 means
	// DefaultRemoteMaxBytes (1 MiB).
	MaxBytes int64
	// MinRefreshInterval is the least time between two fetches (an
	// unknown kid asks for one; a flood of them gets at most one per
	// interval); 0 means DefaultRemoteMinRefreshInterval (10 s).
	MinRefreshInterval time.Duration
	// RefreshEvery is how long a fetched set is used before it is fetched
	// again in the background (the request that notices does not wait). 0
	// means the response's Cache-Control max-age, clamped to
	// [MinRefreshInterval, MaxRemoteRefreshEvery], or
	// DefaultRemoteRefreshEvery (5 min) without one.
	RefreshEvery time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RemoteKeys verifies with the keys of a remote JWKS, for services that
// verify tokens and sign none. Keys are fetched on first use and cached;
// the set is re-fetched in the background every RefreshEvery, and at once
// (single-flight, at most once per MinRefreshInterval) when a token names
// an unknown kid. Keys gone from the remote set are gone after the next
// fetch. Only public OKP Ed25519 and EC P-256 keys are used; others in the
// set (RSA, symmetric, private, use other than sig) are skipped. When a
// fetch fails the last good set stays in use. It is safe for concurrent
// use.
type RemoteKeys struct {
	url      string
	safeURL  string // scheme://host/path, for errors
	client   *http.Client
	timeout  time.Duration
	maxBytes int64
	minEvery time.Duration
	every    time.Duration
	now      func() time.Time

	view   atomic.Pointer[remoteView]
	flight flight
	async  atomic.Bool
}

var (
	_ VerificationKeys = (*RemoteKeys)(nil)
	_ PublicKeySource  = (*RemoteKeys)(nil)
)

type remoteView struct {
	byID    map[string]*Key
	list    []*Key
	refresh time.Time // when to fetch again
}

// NewRemoteKeys returns the keys of the JWKS at rawURL (http or https; use
// https outside tests). It fetches nothing yet.
func NewRemoteKeys(rawURL string, opts *RemoteOptions) (*RemoteKeys, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("auth: the JWKS URL must be an absolute http or https URL")
	}
	if opts == nil {
		opts = &RemoteOptions{}
	}
	r := &RemoteKeys{
		url:      rawURL,
		safeURL:  u.Scheme + "://" + u.Host + u.EscapedPath(),
		client:   opts.Client,
		timeout:  opts.Timeout,
		maxBytes: opts.MaxBytes,
		minEvery: opts.MinRefreshInterval,
		every:    opts.RefreshEvery,
		now:      opts.Now,
	}
	if r.client == nil {
		r.client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to http refused")
			}
			return nil
		}}
	}
	if r.timeout == 0 {
		r.timeout = DefaultRemoteTimeout
	}
	if r.maxBytes == 0 {
		r.maxBytes = DefaultRemoteMaxBytes
	}
	if r.minEvery == 0 {
		r.minEvery = DefaultRemoteMinRefreshInterval
	}
	if r.timeout < 0 || r.maxBytes < 0 || r.minEvery < 0 || r.every < 0 {
		return nil, errors.New("auth: RemoteOptions durations and sizes may not be negative")
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

// VerificationKey returns the remote key kid, fetching the set first if it
// was never fetched, or again if kid is unknown (rate-limited, see
// MinRefreshInterval). A failed fetch with no set at all answers
// ErrKeysUnavailable.
func (r *RemoteKeys) VerificationKey(ctx context.Context, kid string) (*Key, error) {
	v := r.view.Load()
	if v == nil {
		if err := r.refreshSoon(ctx); err != nil && !errors.Is(err, errSkipped) {
			return nil, err
		}
		if v = r.view.Load(); v == nil {
			return nil, fmt.Errorf("%w: the JWKS at %s was not fetched yet", ErrKeysUnavailable, r.safeURL)
		}
	} else if r.now().After(v.refresh) {
		r.refreshInBackground()
	}
	if k := v.byID[kid]; k != nil {
		return k, nil
	}
	if err := r.refreshSoon(ctx); err != nil && !errors.Is(err, errSkipped) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if k := r.view.Load().byID[kid]; k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// PublicKeys returns the keys of the last fetched set (fetching it if there
// is none yet), so a service can republish them.
func (r *RemoteKeys) PublicKeys(ctx context.Context) ([]*Key, error) {
	if r.view.Load() == nil {
		if err := r.refreshSoon(ctx); err != nil && !errors.Is(err, errSkipped) {
			return nil, err
		}
	}
	v := r.view.Load()
	if v == nil {
		return nil, fmt.Errorf("%w: the JWKS at %s was not fetched yet", ErrKeysUnavailable, r.safeURL)
	}
	return append([]*Key(nil), v.list...), nil
}

// Refresh fetches the set now (joining a fetch in progress), regardless of
// MinRefreshInterval.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	return r.flight.do(ctx, r.now(), 0, r.fetch)
}

func (r *RemoteKeys) refreshSoon(ctx context.Context) error {
	return r.flight.do(ctx, r.now(), r.minEvery, r.fetch)
}

func (r *RemoteKeys) refreshInBackground() {
	if !r.async.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.async.Store(false)
		r.flight.do(context.Background(), r.now(), r.minEvery, r.fetch)
	}()
}

// fetch gets the set, bounded by Timeout and MaxBytes, and replaces the
// view. Errors name the URL without its query and never quote the body.
func (r *RemoteKeys) fetch() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("%w: JWKS request to %s: bad request", ErrKeysUnavailable, r.safeURL)
	}
	req.Header.Set("Accept", JWKSContentType+", application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the whole URL
		}
		return fmt.Errorf("%w: fetching the JWKS at %s: %w", ErrKeysUnavailable, r.safeURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the JWKS at %s answered status %d", ErrKeysUnavailable, r.safeURL, resp.StatusCode)
	}
	if resp.ContentLength > r.maxBytes {
		return fmt.Errorf("%w: the JWKS at %s is %d bytes, over the limit of %d", ErrKeysUnavailable, r.safeURL, resp.ContentLength, r.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBytes+1))
	if err != nil {
		return fmt.Errorf("%w: reading the JWKS at %s: %w", ErrKeysUnavailable, r.safeURL, err)
	}
	if int64(len(body)) > r.maxBytes {
		return fmt.Errorf("%w: the JWKS at %s is over the limit of %d bytes", ErrKeysUnavailable, r.safeURL, r.maxBytes)
	}
	keys, err := parseJWKSet(body, false, false)
	if err != nil {
		return fmt.Errorf("%w: the JWKS at %s: %w", ErrKeysUnavailable, r.safeURL, err)
	}
	old := r.view.Load()
	v := &remoteView{byID: make(map[string]*Key, len(keys))}
	for _, k := range keys {
		// Keep the same *Key for an unchanged key, so the Verifier's cache
		// entries made with it stay valid.
		if old != nil {
			if o := old.byID[k.id]; o != nil && string(o.jwk) == string(k.jwk) {
				k = o
			}
		}
		v.byID[k.id] = k
		v.list = append(v.list, k)
	}
	every := r.every
	if every == 0 {
		every = DefaultRemoteRefreshEvery
		if age, ok := maxAge(resp.Header.Get("Cache-Control")); ok {
			every = min(max(age, r.minEvery), MaxRemoteRefreshEvery)
		}
	}
	v.refresh = r.now().Add(every)
	r.view.Store(v)
	return nil
}

// maxAge reads max-age from a Cache-Control value.
func maxAge(cc string) (time.Duration, bool) {
	for d := range strings.SplitSeq(cc, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
		if err != nil || n < 0 || n > int64(MaxRemoteRefreshEvery/time.Second) {
			if err == nil && n > 0 {
				return MaxRemoteRefreshEvery, true
			}
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}
