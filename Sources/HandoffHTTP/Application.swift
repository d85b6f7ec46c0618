import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import Timestamps

/// What every request carries through the middleware: Hummingbird's core context and, once the bearer token is
/// checked, the caller it stands for.
public struct HandoffRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `BearerAuthentication` (or the dashboard's `SessionAuthentication`); nil only on the routes that
    /// need no token.
    public var caller: Caller?
    /// The token of the dashboard session the caller signed in with; nil when a bearer header was sent instead.
    var sessionToken: String?

    public init(source: Source) {
        coreContext = .init(source: source)
        caller = nil
        sessionToken = nil
    }

    /// The authenticated caller; `unauthorized` if a route that needs one was reached without.
    func requireCaller() throws(EngineError) -> Caller {
        guard let caller else { throw EngineError(.unauthorized, "this route needs a bearer token") }
        return caller
    }
}

/// Builds the HTTP application on an engine: the very application `handoff serve` runs, which the tests build
/// with their own settings: the API, the dashboard and its event stream (whose `LiveFeed` runs beside the
/// server). Background services (timers, outbox, projections) passed in run beside the server and stop with it.
public func buildApplication(
    engine: Engine, settings: ServerSettings, services: [any Service] = [], logger: Logger? = nil,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws(EngineError) -> some ApplicationProtocol {
    MetricsBootstrap.once()
    var logger = logger ?? Logger(label: "handoff")
    logger.logLevel = settings.logLevel
    let openAPI = try OpenAPIDocument.load()

    let router = Router(context: HandoffRequestContext.self)
    let methods = MethodTable()
    // Outermost first: metrics and logs see the status the problem document went out with.
    router.addMiddleware {
        MetricsMiddleware()
        LogRequestsMiddleware(.info)
        ProblemMiddleware(methods: methods)
    }
    let authenticator = Authenticator(engine: engine, cache: CallerCache(lifetime: .seconds(1)))
    let feed = LiveFeed(configuration: engine.pool.configuration, pollInterval: settings.livePollInterval)
    Dashboard(
        engine: engine, pages: try Pages.load(), authenticator: authenticator, feed: feed, flow: FlowPicture(),
        maximumBodySize: settings.maximumBodySize
    ).add(to: router, methods: methods)
    let open = RecordingRoutes(base: router, table: methods)
    open.get("/healthz") { _, _ in try JSONBody.response(["status": "ok"]) }
    open.get("/readyz") { _, _ in
        guard await engine.isDatabaseReachable() else {
            throw EngineError(.databaseUnavailable, "the database does not answer")
        }
        // The read replica's lag, when there is one (it never makes the server unready: the primary serves
        // reads a replica cannot).
        guard let replica = try? await engine.replicaStatus() else {
            return try JSONBody.response(["status": "ready"])
        }
        return try JSONBody.response(Readiness(status: "ready", replica: replica))
    }
    let authenticated = RecordingRoutes(
        base: router.group().add(middleware: BearerAuthentication(authenticator: authenticator)), table: methods)
    authenticated.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: openAPI)))
    }
    authenticated.get("/metrics") { _, _ in
        // Each projection's lag as of this scrape (cheap to read: no scan of the log).
        if let replica = try? await engine.replicaStatus() {
            Gauge(label: "handoff_replica_lag_bytes").record(replica.lagBytes)
            Gauge(label: "handoff_replica_lag_seconds").record(replica.lagSeconds ?? 0)
        }
        for projection in (try? await engine.projectionsStatus()) ?? [] where projection.state != "rebuilding" {
            let dimensions = [("projection", projection.name)]
            Gauge(label: "handoff_projection_lag_events", dimensions: dimensions).record(projection.lagEvents)
            Gauge(label: "handoff_projection_lag_seconds", dimensions: dimensions).record(projection.lagSeconds)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: MetricsBootstrap.registry.emitToBuffer())))
    }
    Routes(engine: engine, maximumBodySize: settings.maximumBodySize).add(to: authenticated)

    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "Handoff"),
        services: services + [feed],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? settings.port) },
        logger: logger)
}

/// `GET /readyz` with a read replica: how far behind it is.
struct Readiness: Encodable {
    let status: String
    let replica: ReplicaStatus
}

/// Checks `Authorization: Bearer <token>` and puts the caller it stands for in the context. Missing, unknown,
/// revoked or expired tokens are refused with 401 before any handler runs.
struct BearerAuthentication: RouterMiddleware {
    typealias Context = HandoffRequestContext
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let header = request.headers[.authorization] else {
            throw EngineError(.unauthorized, "send Authorization: Bearer <token> (make one with `handoff tokens create`)")
        }
        var context = context
        let caller = try await authenticator.caller(authorization: header)
        context.caller = caller
        context.logger[metadataKey: "caller"] = .string(caller.name)
        return try await next(request, context)
    }
}

/// Callers of tokens checked in the last `lifetime`, so a busy client's requests don't each cost a query: a
/// revoked or expired token is refused by every server within `lifetime` of it ending. Keyed by the token's SHA-256,
/// never the token; bounded (emptied when full).
final class CallerCache: Sendable {
    private let lifetime: Duration
    private let entries = Mutex<[String: (caller: Caller, until: ContinuousClock.Instant)]>([:])
    private static let capacity = 10_000

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    func caller(for token: String) -> Caller? {
        let key = Engine.tokenHash(token)
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry.caller
        }
    }

    func remember(_ caller: Caller, for token: String) {
        let key = Engine.tokenHash(token)
        let until = ContinuousClock.now + lifetime
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (caller, until)
        }
    }
}

/// Prometheus metrics for the whole process, bootstrapped once however many applications are built (the tests
/// build many).
enum MetricsBootstrap {
    static let registry = PrometheusCollectorRegistry()
    private static let bootstrapped: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }()

    static func once() {
        _ = bootstrapped
    }
}

/// Request and response bodies as JSON, in the shapes of the CLI's `--json`, with times in ISO 8601 to the
/// millisecond.
enum JSONBody {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .timestamp
        return encoder
    }()

    static let decoder = JSONDecoder()

    /// The value's JSON: written by hand for the views that can (`JSONWritable`), else by `JSONEncoder`.
    static func buffer(_ value: some Encodable) throws -> ByteBuffer {
        if let writable = value as? any JSONWritable {
            return ByteBuffer(bytes: writable.jsonBytes)
        }
        return ByteBuffer(bytes: try encoder.encode(value))
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: try buffer(value)))
    }

    /// Reads a request body of at most `limit` bytes as `T`; an empty body reads as `{}`. Throws
    /// `payload_too_large` and `invalid_input` (naming what is wrong).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw EngineError(.payloadTooLarge, "the request body is larger than \(limit) bytes")
        }
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let data = bytes.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } ? Data("{}".utf8) : Data(bytes)
        do {
            // Read strictly first: numbers that can't be kept exactly, invalid UTF-8 and deep nesting are
            // refused here, before `JSONDecoder` (which would round or repair them) sees the body.
            _ = try Value(parsingInput: data)
        } catch {
            throw EngineError(.invalidInput, "the request body is not valid JSON: \(error)")
        }
        do {
            return try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw EngineError(.invalidInput, "the request body is not valid: \(describe(error))")
        } catch {
            throw EngineError(.invalidInput, "the request body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the body" : "'" + keys.joined(separator: ".") + "'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context) == "the body" ? "" : path(context) + " ")is missing '\(key.stringValue)'"
        case .typeMismatch(let type, let context):
            return "\(path(context)) must be \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context)) must be \(typeName(type)), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "it is not JSON" : "\(path(context)) is not valid"
        @unknown default:
            return "it does not match the expected shape"
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is [String].Type, is Array<Any>.Type: "an array"
        default: String(describing: type).hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }
}
