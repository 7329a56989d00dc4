package modalfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	pb "github.com/modal-labs/modal-client/go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The RPCs the fake implements. The SDK (v0.11.1) does no hello or version
// handshake on connect: a client's first RPC is AuthTokenGet, made lazily
// before its first real call, with x-modal-token-id/-secret headers on
// every RPC and x-modal-auth-token on all but AuthTokenGet.
//
//	AuthTokenGet        -> a JWT with an exp claim (a token without one makes the SDK log a warning)
//	FunctionGet         -> Functions.FromName
//	FunctionMap         -> Function.Spawn (and Remote without an input plane)
//	FunctionGetOutputs  -> FunctionCall.Get
//	FunctionCallFromId  -> FunctionCalls.FromID
//	FunctionCallCancel  -> FunctionCall.Cancel
type service struct {
	pb.UnimplementedModalClientServer
	s *Server
}

const servicePrefix = "/modal.client.ModalClient/"

// intercept counts every RPC, then checks credentials and injected faults
// before the handler runs.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := s.admit(ctx, strings.TrimPrefix(info.FullMethod, servicePrefix)); err != nil {
		return nil, err
	}
	if d := s.opts.Latency; d > 0 { // a remote control plane's round trip, for benchmarks
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return handler(ctx, req)
}

func (s *Server) admit(ctx context.Context, rpc string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[rpc]++
	if s.rejectAuth {
		return status.Error(codes.Unauthenticated, "modalfake: token rejected")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if header(md, "x-modal-token-id") != s.opts.TokenID || header(md, "x-modal-token-secret") != s.opts.TokenSecret {
		return status.Error(codes.Unauthenticated, "modalfake: unknown token id or wrong token secret")
	}
	if rpc != "AuthTokenGet" && header(md, "x-modal-auth-token") != s.authToken {
		return status.Error(codes.Unauthenticated, "modalfake: missing or unknown auth token")
	}
	if f := s.faults[rpc]; f.n > 0 {
		f.n--
		s.faults[rpc] = f
		return status.Errorf(f.code, "modalfake: injected %s fault", rpc)
	}
	return nil
}

func header(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// fakeJWT is an unsigned token whose exp is a day away, so the SDK neither
// warns nor refreshes during a test.
func fakeJWT() string {
	enc := base64.RawURLEncoding
	claims, _ := json.Marshal(map[string]any{"exp": time.Now().Add(24 * time.Hour).Unix()})
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(claims) + ".modalfake"
}

func (v *service) AuthTokenGet(context.Context, *pb.AuthTokenGetRequest) (*pb.AuthTokenGetResponse, error) {
	return pb.AuthTokenGetResponse_builder{Token: v.s.authToken}.Build(), nil
}

func (v *service) FunctionGet(_ context.Context, req *pb.FunctionGetRequest) (*pb.FunctionGetResponse, error) {
	key := deployKey{env: req.GetEnvironmentName(), app: req.GetAppName(), fn: req.GetObjectTag()}
	v.s.mu.Lock()
	f := v.s.functions[v.s.deployed[key]]
	v.s.mu.Unlock()
	if f == nil {
		return nil, status.Errorf(codes.NotFound, "modalfake: app %q has no function %q in environment %q", key.app, key.fn, key.env)
	}
	return pb.FunctionGetResponse_builder{FunctionId: f.id, HandleMetadata: handleMetadata(f)}.Build(), nil
}

// handleMetadata is what the SDK needs to spawn: CBOR among the supported
// input formats, and no web URL or input plane.
func handleMetadata(f *function) *pb.FunctionHandleMetadata {
	return pb.FunctionHandleMetadata_builder{
		FunctionName:           f.key.fn,
		FunctionType:           pb.Function_FUNCTION_TYPE_FUNCTION,
		SupportedInputFormats:  []pb.DataFormat{pb.DataFormat_DATA_FORMAT_CBOR},
		SupportedOutputFormats: []pb.DataFormat{pb.DataFormat_DATA_FORMAT_CBOR},
		AppId:                  f.appID,
	}.Build()
}

func (v *service) FunctionMap(_ context.Context, req *pb.FunctionMapRequest) (*pb.FunctionMapResponse, error) {
	args, kwargs, err := decodeInput(req)
	if err != nil {
		return nil, err
	}
	c, err := v.s.startCall(req.GetFunctionId(), args, kwargs)
	if err != nil {
		return nil, err
	}
	// The SDK indexes PipelinedInputs[0] without checking: it must be there.
	return pb.FunctionMapResponse_builder{
		FunctionCallId:  c.id,
		FunctionCallJwt: "fcj-" + c.id,
		PipelinedInputs: []*pb.FunctionPutInputsResponseItem{
			pb.FunctionPutInputsResponseItem_builder{Idx: 0, InputId: c.inputID, InputJwt: "inj-" + c.id}.Build(),
		},
	}.Build(), nil
}

var cborDecoder, _ = cbor.DecOptions{DefaultMapType: reflect.TypeOf(map[string]any{})}.DecMode()

// decodeInput checks the request is a single unary CBOR input, as Spawn
// sends, and decodes its [args, kwargs].
func decodeInput(req *pb.FunctionMapRequest) ([]any, map[string]any, error) {
	items := req.GetPipelinedInputs()
	if req.GetFunctionCallType() != pb.FunctionCallType_FUNCTION_CALL_TYPE_UNARY || len(items) != 1 {
		return nil, nil, status.Errorf(codes.InvalidArgument, "modalfake: want one unary input, got %d of type %s", len(items), req.GetFunctionCallType())
	}
	in := items[0].GetInput()
	if in.GetDataFormat() != pb.DataFormat_DATA_FORMAT_CBOR {
		return nil, nil, status.Errorf(codes.InvalidArgument, "modalfake: input format %s, want CBOR", in.GetDataFormat())
	}
	if in.GetArgsBlobId() != "" {
		return nil, nil, status.Error(codes.Unimplemented, "modalfake: inputs uploaded as blobs are not supported")
	}
	var payload []any
	if err := cborDecoder.Unmarshal(in.GetArgs(), &payload); err != nil || len(payload) != 2 {
		return nil, nil, status.Errorf(codes.InvalidArgument, "modalfake: input is not CBOR [args, kwargs]: %v", err)
	}
	args, ok1 := payload[0].([]any)
	kwargs, ok2 := payload[1].(map[string]any)
	if !ok1 || !ok2 {
		return nil, nil, status.Errorf(codes.InvalidArgument, "modalfake: input is %T, %T; want [args, kwargs]", payload[0], payload[1])
	}
	return args, kwargs, nil
}

func (v *service) FunctionGetOutputs(ctx context.Context, req *pb.FunctionGetOutputsRequest) (*pb.FunctionGetOutputsResponse, error) {
	c, err := v.s.call(req.GetFunctionCallId())
	if err != nil {
		return nil, err
	}
	wait := time.NewTimer(time.Duration(float64(req.GetTimeout()) * float64(time.Second)))
	defer wait.Stop()
	select {
	case <-c.done:
	case <-wait.C:
		return pb.FunctionGetOutputsResponse_builder{NumUnfinishedInputs: 1}.Build(), nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	item := pb.FunctionGetOutputsItem_builder{
		Result:     c.result,
		InputId:    c.inputID,
		DataFormat: pb.DataFormat_DATA_FORMAT_CBOR,
	}.Build()
	return pb.FunctionGetOutputsResponse_builder{Outputs: []*pb.FunctionGetOutputsItem{item}, Idxs: []int32{0}}.Build(), nil
}

func (v *service) FunctionCallFromId(_ context.Context, req *pb.FunctionCallFromIdRequest) (*pb.FunctionCallFromIdResponse, error) {
	c, err := v.s.call(req.GetFunctionCallId())
	if err != nil {
		return nil, err
	}
	return pb.FunctionCallFromIdResponse_builder{
		FunctionCallId: c.id,
		NumInputs:      1,
		Metadata:       pb.FunctionCallHandleMetadata_builder{AppId: c.fn.appID, FunctionId: c.fn.id}.Build(),
	}.Build(), nil
}

func (v *service) FunctionCallCancel(_ context.Context, req *pb.FunctionCallCancelRequest) (*emptypb.Empty, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.GetFunctionCallId()
	s.cancels = append(s.cancels, id)
	c := s.calls[id]
	if c == nil {
		return nil, status.Errorf(codes.NotFound, "modalfake: function call %q not found", id)
	}
	c.canceled = true
	c.cancel()
	return &emptypb.Empty{}, nil
}

// call is one spawned function call.
type call struct {
	id, inputID string
	fn          *function
	cancel      context.CancelFunc
	canceled    bool // guarded by Server.mu
	done        chan struct{}
	result      *pb.GenericResult // set before done is closed
}

func (s *Server) call(id string) (*call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.calls[id]; c != nil {
		return c, nil
	}
	return nil, status.Errorf(codes.NotFound, "modalfake: function call %q not found", id)
}

// startCall records a spawn and runs OnSpawn for it in a goroutine the
// server waits for when it stops.
func (s *Server) startCall(fnID string, args []any, kwargs map[string]any) (*call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, status.Error(codes.Unavailable, "modalfake: server stopping")
	}
	f := s.functions[fnID]
	if f == nil {
		return nil, status.Errorf(codes.NotFound, "modalfake: function %q not found", fnID)
	}
	s.seq++
	ctx, cancel := context.WithCancel(s.base)
	c := &call{id: fmt.Sprintf("fc-fake%04d", s.seq), inputID: fmt.Sprintf("in-fake%04d", s.seq), fn: f, cancel: cancel, done: make(chan struct{})}
	s.calls[c.id] = c
	s.spawns = append(s.spawns, Spawn{CallID: c.id, FunctionID: f.id, App: f.key.app, Function: f.key.fn, Args: args, Kwargs: kwargs})
	s.running.Add(1)
	go s.run(ctx, c, append([]any(nil), args...))
	return c, nil
}

func (s *Server) run(ctx context.Context, c *call, args []any) {
	defer s.running.Done()
	defer c.cancel()
	var err error
	if s.opts.OnSpawn != nil {
		err = s.opts.OnSpawn(ctx, c.id, args)
	}
	s.mu.Lock()
	canceled := c.canceled
	s.mu.Unlock()
	c.result = result(err, canceled)
	close(c.done)
}

var cborNone, _ = cbor.Marshal(nil)

func result(err error, canceled bool) *pb.GenericResult {
	switch {
	case canceled:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_TERMINATED, Exception: "function call was cancelled"}.Build()
	case err != nil:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_FAILURE, Exception: err.Error()}.Build()
	default:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS, Data: cborNone}.Build()
	}
}
