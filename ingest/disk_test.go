package ingest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// lowDisk is a DiskSpace that refuses while low is set and records the
// size it was asked about.
type lowDisk struct {
	low   atomic.Bool
	asked atomic.Int64
}

func (d *lowDisk) Admit(n int64) error {
	d.asked.Store(n)
	if d.low.Load() {
		return errors.New("disk nearly full")
	}
	return nil
}

// TestDiskRefusal checks that a request the disk has no room for is
// refused before the store sees it, retryably on both transports (503 with
// Retry-After, UNAVAILABLE with RetryInfo), and admitted again once there
// is room.
func TestDiskRefusal(t *testing.T) {
	c := &consumer{}
	d := &lowDisk{}
	r := openReceiver(t, DefaultConfig(), Options{Logs: c, Traces: c, Disk: d})
	body := tinyResources(3)

	d.low.Store(true)
	resp, b := postLogs(t, r, body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP on a low disk = %d (Retry-After %q) %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if d.asked.Load() != int64(len(body)) {
		t.Errorf("disk asked about %d bytes, want the request's %d", d.asked.Load(), len(body))
	}

	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), req)
	st := status.Convert(err)
	var retry *errdetails.RetryInfo
	for _, det := range st.Details() {
		if ri, ok := det.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if st.Code() != codes.Unavailable || retry == nil {
		t.Fatalf("gRPC on a low disk: %v (RetryInfo %v), want UNAVAILABLE with RetryInfo", err, retry)
	}
	if n := stored(c); n != 0 {
		t.Fatalf("store got %d records while the disk was low, want 0", n)
	}

	d.low.Store(false)
	if resp, b := postLogs(t, r, body); resp.StatusCode != 200 {
		t.Fatalf("HTTP once there is room = %d %q, want 200", resp.StatusCode, b)
	}
	if _, err := plogotlp.NewGRPCClient(conn).Export(context.Background(), req); err != nil {
		t.Fatalf("gRPC once there is room: %v", err)
	}
	if n := stored(c); n != 6 {
		t.Errorf("store got %d records, want 6", n)
	}
}

func stored(c *consumer) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs
}
