"""Qdrant for the end-to-end tests on machines without Docker.

This is Qdrant's own engine, Qdrant Edge (PyPI qdrant-edge-py: Qdrant's segment,
shard, WAL and payload-index crates compiled for Python), behind a small gRPC
front of ours. No registry reachable from the test machines ships the Qdrant
server itself. docker-compose runs the real qdrant/qdrant server instead.

What is ours: this file only. It serves the gRPC API with the servicers that
qdrant-client generates from Qdrant's .proto files (qdrant_client.grpc), and
translates each request into an engine call: one EdgeShard per collection. The
engine does the storage, the WAL, payload indexing, filtering and scoring; the
front only translates messages and maps errors to the gRPC status codes real
Qdrant uses (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS).

Served: Qdrant/HealthCheck; Collections Create, CollectionExists, Get, List,
Delete; Points Upsert, Query, Search, Delete (by ids or filter), Count, Get,
Scroll, CreateFieldIndex. Any other method answers UNIMPLEMENTED. Filters:
must / should / must_not, nested filters, has_id, is_empty, is_null, and field
conditions with match keyword / integer / bool / any (keywords or integers) /
except, and range. Anything else is refused with INVALID_ARGUMENT, never ignored.

Usage:
    python qdrant_front.py --data DIR [--listen 127.0.0.1:6334]   # serve
    python qdrant_front.py --check 127.0.0.1:6334                 # health probe
Prints "READY ..." once it serves; exits 1 when it cannot start. SIGTERM or
SIGINT: stop serving, flush and close every shard, exit 0.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from concurrent import futures
from datetime import datetime, timezone

import grpc

# The API level this front mimics: the go-client the gateway pins (v1.17.1).
QDRANT_API_VERSION = "1.17.1"
MAX_MESSAGE = 64 * 1024 * 1024  # grpcio's default (4 MiB) is smaller than Qdrant's.


def check(address):
    """Health probe for service.sh: one real Qdrant/HealthCheck call. Sends the
    empty request by hand so that it does not import qdrant-client (~1 s)."""
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            "/qdrant.Qdrant/HealthCheck",
            request_serializer=lambda _: b"",
            response_deserializer=lambda raw: raw,
        )
        reply = call(None, timeout=2)
    return b"qdrant" in reply


# Imported only when serving (see check above).
pb = None  # qdrant_client.grpc: the generated messages and servicers
edge = None  # qdrant_edge: the engine
numpy = None  # a qdrant-client dependency; see field_condition


class FrontError(Exception):
    """An error answered to the client with a gRPC status code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def invalid(message):
    return FrontError(grpc.StatusCode.INVALID_ARGUMENT, message)


def unsupported(what):
    return invalid(f"{what} is not supported by the Qdrant test front (e2e/services/qdrant)")


def not_found(name):
    return FrontError(grpc.StatusCode.NOT_FOUND, f"Not found: Collection `{name}` doesn't exist!")


def engine_error(exc):
    """Maps an engine exception to the status real Qdrant would answer."""
    text = str(exc)
    if "not found" in text.lower() and "vector name" not in text.lower():
        return FrontError(grpc.StatusCode.NOT_FOUND, f"Not found: {text}")
    if isinstance(exc, (ValueError, TypeError, OverflowError)) or not text.startswith("Service"):
        # Dimension errors, unknown vector names, missing indexes, bad ids...
        return invalid(text if text.startswith("Wrong input") else f"Wrong input: {text}")
    return FrontError(grpc.StatusCode.INTERNAL, text)


def rpc(method):
    """Wraps a servicer method: times it and turns errors into gRPC statuses."""

    def wrapper(self, request, context):
        started = time.monotonic()
        try:
            return method(self, request, started)
        except FrontError as e:
            log(f"{method.__name__}: {e.code.name}: {e}")
            context.abort(e.code, str(e))
        except Exception as e:  # engine errors are plain exceptions
            err = engine_error(e)
            log(f"{method.__name__}: {err.code.name}: {err}")
            context.abort(err.code, str(err))

    wrapper.__name__ = method.__name__
    return wrapper


def log(message):
    print(f"{datetime.now().strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def elapsed(started):
    return time.monotonic() - started


# ---------------------------------------------------------------------------
# Values: Qdrant's json_with_int Value <-> Python
# ---------------------------------------------------------------------------


def value_to_py(v):
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "struct_value":
        return {k: value_to_py(x) for k, x in v.struct_value.fields.items()}
    if kind == "list_value":
        return [value_to_py(x) for x in v.list_value.values]
    return getattr(v, kind)  # double_value, integer_value, string_value, bool_value


def py_to_value(x, out):
    if x is None:
        out.null_value = 0
    elif isinstance(x, bool):
        out.bool_value = x
    elif isinstance(x, int):
        out.integer_value = x
    elif isinstance(x, float):
        out.double_value = x
    elif isinstance(x, str):
        out.string_value = x
    elif isinstance(x, dict):
        out.struct_value.SetInParent()
        for k, item in x.items():
            py_to_value(item, out.struct_value.fields[k])
    elif isinstance(x, (list, tuple)):
        out.list_value.SetInParent()
        for item in x:
            py_to_value(item, out.list_value.values.add())
    else:
        out.string_value = str(x)
    return out


def payload_from(proto_map):
    return {k: value_to_py(v) for k, v in proto_map.items()}


def fill_payload(proto_map, payload):
    for k, v in (payload or {}).items():
        py_to_value(v, proto_map[k])


# ---------------------------------------------------------------------------
# Ids, vectors, selectors
# ---------------------------------------------------------------------------


def point_id(pid):
    """PointId -> engine id. Like Qdrant, a string id must be a UUID."""
    kind = pid.WhichOneof("point_id_options")
    if kind == "num":
        return pid.num
    if kind == "uuid":
        try:
            return uuid.UUID(pid.uuid)
        except ValueError:
            raise invalid(f"Unable to parse UUID: {pid.uuid}") from None
    raise invalid("Wrong input: empty point id")


def fill_point_id(out, pid):
    if isinstance(pid, int):
        out.num = pid
    else:
        out.uuid = str(uuid.UUID(str(pid)))


def dense(vector, what="vector"):
    """Vector / VectorInput -> list of floats; only dense vectors are served."""
    kind = vector.WhichOneof("vector") if hasattr(vector, "data") else vector.WhichOneof("variant")
    if kind == "dense":
        return list(vector.dense.data)
    if kind is None and hasattr(vector, "data") and not vector.HasField("indices"):
        return list(vector.data)  # the deprecated field older clients send
    raise unsupported(f"{what} of kind {kind or 'sparse'}")


def point_vectors(vectors):
    kind = vectors.WhichOneof("vectors_options")
    if kind == "vector":
        return dense(vectors.vector)
    if kind == "vectors":
        return {name: dense(v, f"vector {name!r}") for name, v in vectors.vectors.vectors.items()}
    raise invalid("Wrong input: point has no vectors")


def fill_vectors(out, vec):
    if isinstance(vec, dict):
        for name, data in vec.items():
            out.vectors.vectors[name].dense.data.extend(data)
    else:
        out.vector.dense.data.extend(vec)


def with_payload(sel, default):
    if sel is None:
        return default
    kind = sel.WhichOneof("selector_options")
    if kind == "enable":
        return sel.enable
    if kind == "include":
        return edge.PayloadSelector.Include(list(sel.include.fields))
    if kind == "exclude":
        return edge.PayloadSelector.Exclude(list(sel.exclude.fields))
    return default


def with_vectors(sel):
    if sel is None:
        return False
    kind = sel.WhichOneof("selector_options")
    if kind == "enable":
        return sel.enable
    if kind == "include":
        return list(sel.include.names)
    return False


def opt(msg, field):
    """The message's field when set (proto3 optional / sub-message), else None."""
    return getattr(msg, field) if msg.HasField(field) else None


# ---------------------------------------------------------------------------
# Filters: translated one to one; the engine evaluates them
# ---------------------------------------------------------------------------


def to_filter(f):
    if f is None:
        return None
    if f.HasField("min_should"):
        raise unsupported("filter min_should")
    if not (f.must or f.should or f.must_not):
        return None
    return edge.Filter(
        must=[condition(c) for c in f.must] or None,
        should=[condition(c) for c in f.should] or None,
        must_not=[condition(c) for c in f.must_not] or None,
    )


def condition(c):
    kind = c.WhichOneof("condition_one_of")
    if kind == "field":
        return field_condition(c.field)
    if kind == "has_id":
        return edge.HasIdCondition({point_id(p) for p in c.has_id.has_id})
    if kind == "filter":
        nested = to_filter(c.filter)
        return nested if nested is not None else edge.Filter()
    if kind == "is_empty":
        return edge.IsEmptyCondition(c.is_empty.key)
    if kind == "is_null":
        return edge.IsNullCondition(c.is_null.key)
    raise unsupported(f"filter condition {kind}")


def field_condition(fc):
    args = {}
    if fc.HasField("match"):
        m = fc.match
        kind = m.WhichOneof("match_value")
        if kind == "boolean":
            # The binding reads a Python bool as the integer 0/1 (bool is an int
            # subclass); numpy's bool is not, and arrives as a real bool.
            args["match"] = edge.MatchValue(numpy.bool_(m.boolean))
        elif kind in ("keyword", "integer"):
            args["match"] = edge.MatchValue(getattr(m, kind))
        elif kind == "keywords":
            args["match"] = edge.MatchAny(list(m.keywords.strings))
        elif kind == "integers":
            args["match"] = edge.MatchAny(list(m.integers.integers))
        elif kind == "except_keywords":
            args["match"] = edge.MatchExcept(list(m.except_keywords.strings))
        elif kind == "except_integers":
            args["match"] = edge.MatchExcept(list(m.except_integers.integers))
        else:
            raise unsupported(f"match {kind} (field {fc.key!r})")
    if fc.HasField("range"):
        r = fc.range
        args["range"] = edge.RangeFloat(
            gte=opt(r, "gte"), gt=opt(r, "gt"), lte=opt(r, "lte"), lt=opt(r, "lt")
        )
    if fc.HasField("is_empty"):
        args["is_empty"] = fc.is_empty
    if fc.HasField("is_null"):
        args["is_null"] = fc.is_null
    for other in ("geo_bounding_box", "geo_radius", "geo_polygon", "values_count", "datetime_range"):
        if fc.HasField(other):
            raise unsupported(f"field condition {other} (field {fc.key!r})")
    if not args:
        raise invalid(f"Wrong input: field condition on {fc.key!r} has no condition")
    return edge.FieldCondition(key=fc.key, **args)


# ---------------------------------------------------------------------------
# Collections: one EdgeShard each, under DATA/collections/NAME/
# ---------------------------------------------------------------------------

DISTANCES = {1: "Cosine", 2: "Euclid", 3: "Dot", 4: "Manhattan"}
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


def default_config():
    """Real Qdrant's defaults, echoed in collection info (clients expect them)."""
    return (
        pb.HnswConfigDiff(m=16, ef_construct=100, full_scan_threshold=10000, max_indexing_threads=0, on_disk=False),
        pb.OptimizersConfigDiff(
            deleted_threshold=0.2,
            vacuum_min_vector_number=1000,
            default_segment_number=0,
            indexing_threshold=10000,
            flush_interval_sec=5,
            max_optimization_threads=pb.MaxOptimizationThreads(setting=pb.MaxOptimizationThreads.Auto),
        ),
        pb.WalConfigDiff(wal_capacity_mb=32, wal_segments_ahead=0, wal_retain_closed=1),
    )


class Collection:
    def __init__(self, name, path, shard, meta):
        self.name, self.path, self.shard, self.meta = name, path, shard, meta
        self.operation_id = 0
        self.lock = threading.Lock()  # guards operation_id only; the engine is thread-safe

    def next_operation(self):
        with self.lock:
            self.operation_id += 1
            return self.operation_id

    def params_proto(self):
        """The stored CreateCollection request, as given (without its name)."""
        from google.protobuf import json_format

        return json_format.ParseDict(self.meta["request"], pb.CreateCollection())


class Registry:
    def __init__(self, root):
        self.root = os.path.join(root, "collections")
        os.makedirs(self.root, exist_ok=True)
        self.lock = threading.Lock()
        self.collections = {}

    def load_all(self):
        for name in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, name)
            meta_file = os.path.join(path, "meta.json")
            if not os.path.exists(meta_file):  # a create that did not finish
                shutil.rmtree(path, ignore_errors=True)
                continue
            with open(meta_file) as f:
                meta = json.load(f)
            self.collections[name] = Collection(name, path, edge.EdgeShard.load(os.path.join(path, "shard")), meta)
        return len(self.collections)

    def get(self, name):
        with self.lock:
            col = self.collections.get(name)
        if col is None:
            raise not_found(name)
        return col

    def create(self, name, config, meta):
        if not NAME_RE.match(name) or name in (".", ".."):
            raise invalid(f"Wrong input: invalid collection name {name!r}")
        with self.lock:
            if name in self.collections:
                raise FrontError(grpc.StatusCode.ALREADY_EXISTS, f"Wrong input: Collection `{name}` already exists!")
            path = os.path.join(self.root, name)
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
            try:
                shard = edge.EdgeShard.create(os.path.join(path, "shard"), config)
                # meta.json last, atomically: its presence marks a complete collection.
                with open(os.path.join(path, "meta.json.tmp"), "w") as f:
                    json.dump(meta, f)
                os.replace(os.path.join(path, "meta.json.tmp"), os.path.join(path, "meta.json"))
            except Exception:
                shutil.rmtree(path, ignore_errors=True)
                raise
            self.collections[name] = Collection(name, path, shard, meta)

    def delete(self, name):
        with self.lock:
            col = self.collections.pop(name, None)
        if col is None:
            raise not_found(name)
        col.shard.close()
        shutil.rmtree(col.path, ignore_errors=True)

    def names(self):
        with self.lock:
            return sorted(self.collections)

    def close_all(self):
        with self.lock:
            cols, self.collections = list(self.collections.values()), {}
        for col in cols:
            try:
                col.shard.flush()
                col.shard.close()
            except Exception as e:
                log(f"closing {col.name}: {e}")


def vector_params(p, what):
    distance = DISTANCES.get(p.distance)
    if distance is None or p.size == 0:
        raise invalid(f"Wrong input: {what} needs a size and a distance")
    for field in ("quantization_config", "multivector_config"):
        if p.HasField(field):
            raise unsupported(f"{what} {field}")
    if p.HasField("datatype") and p.datatype not in (pb.Datatype.Default, pb.Datatype.Float32):
        raise unsupported(f"{what} datatype {pb.Datatype.Name(p.datatype)}")
    return edge.EdgeVectorParams(size=p.size, distance=getattr(edge.Distance, distance), on_disk=opt(p, "on_disk"))


INDEX_PARAMS = {  # proto PayloadIndexParams field -> (engine class, fields passed through)
    "keyword_index_params": ("KeywordIndexParams", ("is_tenant", "on_disk", "enable_hnsw")),
    "integer_index_params": ("IntegerIndexParams", ("lookup", "range", "is_principal", "on_disk", "enable_hnsw")),
    "float_index_params": ("FloatIndexParams", ("is_principal", "on_disk", "enable_hnsw")),
    "geo_index_params": ("GeoIndexParams", ("on_disk", "enable_hnsw")),
    "text_index_params": (
        "TextIndexParams",
        ("lowercase", "min_token_len", "max_token_len", "on_disk", "phrase_matching", "ascii_folding", "enable_hnsw"),
    ),
    "bool_index_params": ("BoolIndexParams", ("on_disk", "enable_hnsw")),
    "datetime_index_params": ("DatetimeIndexParams", ("is_principal", "on_disk", "enable_hnsw")),
    "uuid_index_params": ("UuidIndexParams", ("is_tenant", "on_disk", "enable_hnsw")),
}
FIELD_TYPES = {0: "Keyword", 1: "Integer", 2: "Float", 3: "Geo", 4: "Text", 5: "Bool", 6: "Datetime", 7: "Uuid"}
TOKENIZERS = {1: "Prefix", 2: "Whitespace", 3: "Word", 4: "Multilingual", 5: "Code"}


def index_schema(req):
    if req.HasField("field_index_params"):
        params = req.field_index_params
        kind = params.WhichOneof("index_params")
        if kind is None:
            raise invalid("Wrong input: empty field_index_params")
        cls, allowed = INDEX_PARAMS[kind]
        p = getattr(params, kind)
        args = {}
        for desc, _ in p.ListFields():
            if desc.name in allowed:
                args[desc.name] = getattr(p, desc.name)
            elif desc.name == "tokenizer" and kind == "text_index_params":
                args["tokenizer"] = getattr(edge.TokenizerType, TOKENIZERS.get(p.tokenizer, "Word"))
            else:
                raise unsupported(f"index parameter {kind}.{desc.name}")
        return getattr(edge, cls)(**args)
    if not req.HasField("field_type"):
        raise invalid("Wrong input: field_type or field_index_params is required")
    return getattr(edge.PayloadSchemaType, FIELD_TYPES[req.field_type])


def enum_name(value):
    return str(value).rsplit(".", 1)[-1]


def schema_info(info):
    """Engine PayloadIndexInfo -> PayloadSchemaInfo."""
    out = pb.PayloadSchemaInfo(data_type=pb.PayloadSchemaType.Value(enum_name(info.data_type)), points=info.points)
    params = info.params
    if params is not None:
        name = type(params).__name__  # e.g. KeywordIndexParams
        field = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()  # keyword_index_params
        if field in INDEX_PARAMS:
            target = getattr(out.params, field)
            target.SetInParent()
            for attr in INDEX_PARAMS[field][1]:
                value = getattr(params, attr, None)
                if value is not None:
                    setattr(target, attr, value)
    return out


# ---------------------------------------------------------------------------
# Servicers
# ---------------------------------------------------------------------------


def make_servicers(registry):
    class QdrantServicer(pb.QdrantServicer):
        @rpc
        def HealthCheck(self, request, started):
            return pb.HealthCheckReply(
                title="qdrant - vector search engine (Qdrant Edge engine behind a test front)",
                version=QDRANT_API_VERSION,
                commit="qdrant-edge-py 0.9.0",
            )

    class CollectionsServicer(pb.CollectionsServicer):
        @rpc
        def Create(self, request, started):
            name = request.collection_name
            cfg = request.vectors_config
            kind = cfg.WhichOneof("config") if request.HasField("vectors_config") else None
            if kind == "params":
                vectors = vector_params(cfg.params, "vectors")
            elif kind == "params_map":
                vectors = {n: vector_params(p, f"vector {n!r}") for n, p in cfg.params_map.map.items()}
            else:
                raise unsupported("a collection without dense vectors")
            for field in ("sparse_vectors_config", "quantization_config", "strict_mode_config"):
                if request.HasField(field):
                    raise unsupported(f"collection {field}")
            if request.sharding_method == pb.ShardingMethod.Custom:
                raise unsupported("custom sharding")
            from google.protobuf import json_format

            stored = pb.CreateCollection()
            stored.CopyFrom(request)
            stored.ClearField("collection_name")
            meta = {
                "request": json_format.MessageToDict(stored, preserving_proto_field_name=True),
                "created_at": datetime.now(timezone.utc).isoformat(),
            }
            config = edge.EdgeConfig(vectors=vectors, on_disk_payload=opt(request, "on_disk_payload"))
            registry.create(name, config, meta)
            log(f"created collection {name}")
            return pb.CollectionOperationResponse(result=True, time=elapsed(started))

        @rpc
        def CollectionExists(self, request, started):
            exists = request.collection_name in registry.names()
            return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=exists), time=elapsed(started))

        @rpc
        def List(self, request, started):
            cols = [pb.CollectionDescription(name=n) for n in registry.names()]
            return pb.ListCollectionsResponse(collections=cols, time=elapsed(started))

        @rpc
        def Delete(self, request, started):
            registry.delete(request.collection_name)
            log(f"deleted collection {request.collection_name}")
            return pb.CollectionOperationResponse(result=True, time=elapsed(started))

        @rpc
        def Get(self, request, started):
            col = registry.get(request.collection_name)
            req = col.params_proto()
            info = col.shard.info()
            hnsw, optimizers, wal = default_config()
            hnsw.MergeFrom(req.hnsw_config)
            optimizers.MergeFrom(req.optimizers_config)
            wal.MergeFrom(req.wal_config)
            result = pb.CollectionInfo(
                status=pb.CollectionStatus.Green,
                optimizer_status=pb.OptimizerStatus(ok=True),
                segments_count=info.segments_count,
                points_count=info.points_count,
                indexed_vectors_count=info.indexed_vectors_count,
                config=pb.CollectionConfig(
                    params=pb.CollectionParams(
                        shard_number=1,
                        replication_factor=1,
                        write_consistency_factor=1,
                        on_disk_payload=req.on_disk_payload if req.HasField("on_disk_payload") else True,
                        vectors_config=req.vectors_config,
                    ),
                    hnsw_config=hnsw,
                    optimizer_config=optimizers,
                    wal_config=wal,
                ),
                update_queue=pb.UpdateQueueInfo(length=0),
            )
            result.created_at.FromDatetime(datetime.fromisoformat(col.meta["created_at"]))
            for key, schema in info.payload_schema.items():
                result.payload_schema[key].CopyFrom(schema_info(schema))
            return pb.GetCollectionInfoResponse(result=result, time=elapsed(started))

    def updated(col, started):
        return pb.PointsOperationResponse(
            result=pb.UpdateResult(operation_id=col.next_operation(), status=pb.UpdateStatus.Completed),
            time=elapsed(started),
        )

    def scored(points, out):
        for p in points:
            sp = out.add(score=p.score, version=p.version)
            fill_point_id(sp.id, p.id)
            fill_payload(sp.payload, p.payload)
            if p.vector is not None:
                fill_vectors(sp.vectors, p.vector)
            if p.order_value is not None:
                setattr(sp.order_value, "int" if isinstance(p.order_value, int) else "float", p.order_value)

    def retrieved(records, out):
        for r in records:
            rp = out.add()
            fill_point_id(rp.id, r.id)
            fill_payload(rp.payload, r.payload)
            if r.vector is not None:
                fill_vectors(rp.vectors, r.vector)
            if r.order_value is not None:
                setattr(rp.order_value, "int" if isinstance(r.order_value, int) else "float", r.order_value)

    def order_by(o):
        direction = edge.Direction.Desc if o.HasField("direction") and o.direction == pb.Direction.Value("Desc") else None
        start = None
        if o.HasField("start_from"):
            kind = o.start_from.WhichOneof("value")
            if kind not in ("float", "integer", "datetime"):
                raise unsupported(f"order_by start_from {kind}")
            start = getattr(o.start_from, kind)
        return edge.OrderBy(o.key, direction=direction, start_from=start)

    def search_params(p):
        if p is None:
            return None
        return edge.SearchParams(hnsw_ef=opt(p, "hnsw_ef"), exact=p.exact)

    class PointsServicer(pb.PointsServicer):
        @rpc
        def Upsert(self, request, started):
            col = registry.get(request.collection_name)
            points = [edge.Point(point_id(p.id), point_vectors(p.vectors), payload_from(p.payload)) for p in request.points]
            mode = None
            if request.HasField("update_mode"):
                mode = getattr(edge.UpdateMode, pb.UpdateMode.Name(request.update_mode))
            cond = to_filter(opt(request, "update_filter"))
            col.shard.update(edge.UpdateOperation.upsert_points(points, condition=cond, update_mode=mode))
            return updated(col, started)

        @rpc
        def Delete(self, request, started):
            col = registry.get(request.collection_name)
            kind = request.points.WhichOneof("points_selector_one_of")
            if kind == "points":
                op = edge.UpdateOperation.delete_points([point_id(p) for p in request.points.points.ids])
            elif kind == "filter":
                op = edge.UpdateOperation.delete_points_by_filter(to_filter(request.points.filter) or edge.Filter())
            else:
                raise invalid("Wrong input: no points selector")
            col.shard.update(op)
            return updated(col, started)

        @rpc
        def CreateFieldIndex(self, request, started):
            col = registry.get(request.collection_name)
            col.shard.update(edge.UpdateOperation.create_field_index(request.field_name, index_schema(request)))
            return updated(col, started)

        @rpc
        def Query(self, request, started):
            col = registry.get(request.collection_name)
            if request.prefetch:
                raise unsupported("query prefetch")
            using = opt(request, "using") or None
            query = None
            if request.HasField("query"):
                kind = request.query.WhichOneof("variant")
                if kind == "nearest":
                    query = edge.Query.Nearest(dense(request.query.nearest, "nearest query"), using=using)
                elif kind == "order_by":
                    query = order_by(request.query.order_by)
                else:
                    raise unsupported(f"query {kind}")
            points = col.shard.query(
                edge.QueryRequest(
                    limit=request.limit if request.HasField("limit") else 10,
                    offset=opt(request, "offset"),
                    query=query,
                    filter=to_filter(opt(request, "filter")),
                    score_threshold=opt(request, "score_threshold"),
                    params=search_params(opt(request, "params")),
                    with_payload=with_payload(opt(request, "with_payload"), False),
                    with_vector=with_vectors(opt(request, "with_vectors")),
                )
            )
            resp = pb.QueryResponse()
            scored(points, resp.result)
            resp.time = elapsed(started)
            return resp

        @rpc
        def Search(self, request, started):
            col = registry.get(request.collection_name)
            if request.HasField("sparse_indices"):
                raise unsupported("sparse search")
            points = col.shard.query(
                edge.QueryRequest(
                    limit=request.limit,
                    offset=opt(request, "offset"),
                    query=edge.Query.Nearest(list(request.vector), using=opt(request, "vector_name") or None),
                    filter=to_filter(opt(request, "filter")),
                    score_threshold=opt(request, "score_threshold"),
                    params=search_params(opt(request, "params")),
                    with_payload=with_payload(opt(request, "with_payload"), False),
                    with_vector=with_vectors(opt(request, "with_vectors")),
                )
            )
            resp = pb.SearchResponse()
            scored(points, resp.result)
            resp.time = elapsed(started)
            return resp

        @rpc
        def Count(self, request, started):
            col = registry.get(request.collection_name)
            exact = request.exact if request.HasField("exact") else True
            n = col.shard.count(edge.CountRequest(exact=exact, filter=to_filter(opt(request, "filter"))))
            return pb.CountResponse(result=pb.CountResult(count=n), time=elapsed(started))

        @rpc
        def Get(self, request, started):
            col = registry.get(request.collection_name)
            records = col.shard.retrieve(
                [point_id(p) for p in request.ids],
                with_payload(opt(request, "with_payload"), True),
                with_vectors(opt(request, "with_vectors")),
            )
            resp = pb.GetResponse()
            retrieved(records, resp.result)
            resp.time = elapsed(started)
            return resp

        @rpc
        def Scroll(self, request, started):
            col = registry.get(request.collection_name)
            records, next_offset = col.shard.scroll(
                edge.ScrollRequest(
                    offset=point_id(request.offset) if request.HasField("offset") else None,
                    limit=request.limit if request.HasField("limit") else 10,
                    filter=to_filter(opt(request, "filter")),
                    with_payload=with_payload(opt(request, "with_payload"), True),
                    with_vector=with_vectors(opt(request, "with_vectors")),
                    order_by=order_by(request.order_by) if request.HasField("order_by") else None,
                )
            )
            resp = pb.ScrollResponse()
            retrieved(records, resp.result)
            if next_offset is not None:
                fill_point_id(resp.next_page_offset, next_offset)
            resp.time = elapsed(started)
            return resp

    return QdrantServicer(), CollectionsServicer(), PointsServicer()


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def serve(data_dir, listen):
    global pb, edge, numpy
    import numpy  # noqa: F811
    import qdrant_client.grpc as pb  # noqa: F811 (generated from Qdrant's .proto files)
    import qdrant_edge as edge  # noqa: F811

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=16),
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            # go-client pings every 10 s even when idle; grpcio's defaults would
            # answer GOAWAY "too_many_pings" after ~30 s.
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 5000),
            ("grpc.http2.max_ping_strikes", 0),
            # A second front on the same port must fail, not share it.
            ("grpc.so_reuseport", 0),
        ],
    )
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as e:
        port, why = 0, e
    else:
        why = "port in use?"
    if port == 0:
        print(f"FAILED to listen on {listen}: {why}", flush=True)
        sys.exit(1)

    registry = Registry(data_dir)
    loaded = registry.load_all()
    qdrant_servicer, collections_servicer, points_servicer = make_servicers(registry)
    pb.add_QdrantServicer_to_server(qdrant_servicer, server)
    pb.add_CollectionsServicer_to_server(collections_servicer, server)
    pb.add_PointsServicer_to_server(points_servicer, server)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print(f"READY grpc {listen} ({loaded} collections loaded from {data_dir})", flush=True)
    stop.wait()
    print("shutting down", flush=True)
    server.stop(grace=2).wait()
    registry.close_all()
    print("stopped", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="data directory (one sub-directory per collection)")
    parser.add_argument("--listen", default="127.0.0.1:6334")
    parser.add_argument("--check", metavar="ADDRESS", help="health probe: exit 0 when a front answers")
    args = parser.parse_args()
    if args.check:
        try:
            sys.exit(0 if check(args.check) else 1)
        except grpc.RpcError:
            sys.exit(1)
    if not args.data:
        parser.error("--data is required")
    serve(args.data, args.listen)


if __name__ == "__main__":
    main()
