import AsyncHTTPClient
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The endpoints automated steps call, by name, from configuration (`HANDOFF_ENDPOINTS`: a JSON file of
/// `{"name": {"url": "https://…", "secret": "whsec_…"}}`), so that URLs and secrets stay out of workflow files.
public struct Endpoints: Sendable, Equatable {
    public struct Endpoint: Codable, Sendable, Equatable {
        public var url: String
        public var secret: String

        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    public var byName: [String: Endpoint]

    public init(_ byName: [String: Endpoint] = [:]) {
        self.byName = byName
    }

    /// The file `HANDOFF_ENDPOINTS` names; none when unset. Throws `invalid_input` for a file that does not read
    /// as that shape, or an endpoint whose URL or secret is not one.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(EngineError) -> Endpoints
    {
        guard let path = environment["HANDOFF_ENDPOINTS"], !path.isEmpty else { return Endpoints() }
        let byName: [String: Endpoint]
        do {
            byName = try JSONDecoder().decode([String: Endpoint].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw EngineError(
                .invalidInput, "HANDOFF_ENDPOINTS (\(path)) is not a JSON object of {\"url\", \"secret\"} by name: \(error)")
        }
        for (name, endpoint) in byName {
            guard let scheme = URLComponents(string: endpoint.url)?.scheme?.lowercased(), ["http", "https"].contains(scheme)
            else { throw EngineError(.invalidInput, "endpoint '\(name)' in \(path) needs an http or https URL") }
            guard WebhookSignature.key(endpoint.secret) != nil else {
                throw EngineError(.invalidInput, "endpoint '\(name)' in \(path) needs a whsec_ secret")
            }
        }
        return Endpoints(byName)
    }
}

/// The outbox dispatcher, in every `handoff serve` and `handoff worker`: delivers each notification as a signed
/// POST (Standard Webhooks headers), retries failures with backoff, dead-letters after the last attempt, and for
/// automated steps feeds the endpoint's JSON answer back to the engine. Any number may run on one database: a
/// notification is leased to one dispatcher per attempt, and only the oldest pending one of each receiver and
/// onboarding is sent, so each receiver sees one onboarding's notifications in order. Delivery is at least once;
/// a repeat carries the same `webhook-id`.
public final class NotificationDispatcher: Service, Sendable {
    let engine: Engine
    let settings: DeliverySettings
    let endpoints: Endpoints
    let interval: Duration
    /// After a lease that found fewer rows than it had room for, the time before the next: the notifications
    /// written meanwhile are leased, sent and settled together, in one lease and few settles instead of one each
    /// for every few rows.
    let gathering: Duration
    /// Rows in flight at most: more are leased when half of them are done.
    let batch: Int
    let logger: Logger

    /// Answers of automated steps are read up to this size.
    static let maximumAnswer = 1 << 20

    public init(
        engine: Engine, settings: DeliverySettings = .fromEnvironment(), endpoints: Endpoints = Endpoints(),
        interval: Duration = .milliseconds(100), gathering: Duration = .milliseconds(25), batch: Int = 64,
        logger: Logger
    ) {
        self.engine = engine
        self.settings = settings
        self.endpoints = endpoints
        self.interval = interval
        self.gathering = min(gathering, interval)
        self.batch = batch
        self.logger = logger
    }

    public func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(Int64(max(1, settings.timeout))), read: nil)
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: Self.connectionsPerReceiver)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let recorder = DeliveryRecorder(engine: engine, logger: logger)
        // Lines in flight, their rows counted: when half a batch's room is free, more are leased, so that a slow
        // line never holds up the others (a lease leaves out the lines in flight: their rows are leased).
        await withTaskGroup(of: Int.self) { group in
            var inFlight = 0
            var nextLease = ContinuousClock.now
            while !Task.isCancelled, !Task.isShuttingDownGracefully {
                if inFlight <= batch / 2, ContinuousClock.now >= nextLease {
                    let room = batch - inFlight
                    var leased = 0
                    do {
                        leased = try await lease(limit: room) { line in
                            group.addTask {
                                await recorder.record(await self.deliver(line: line, client))
                                return line.count
                            }
                        }
                    } catch {
                        logger.warning("notifications could not be leased; trying again", metadata: ["error": "\(error)"])
                    }
                    inFlight += leased
                    // A full lease: more are waiting, so the next comes as soon as there is room. A short one: the
                    // next gathers what is written meanwhile. None: the outbox is idle.
                    nextLease = ContinuousClock.now + (leased == room ? .zero : leased > 0 ? gathering : interval)
                    continue
                }
                if inFlight > 0 {
                    inFlight -= await group.next() ?? 0
                } else {
                    let nextLease = nextLease
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(until: nextLease) }
                }
            }
            // Stopping: the lines in flight finish and are recorded.
            for await _ in group {}
        }
        try? await client.shutdown()
    }

    /// Connections to one receiver at a time.
    static let connectionsPerReceiver = 16

    /// Leases up to `limit` due notifications and hands each line (one receiver's notifications of one onboarding,
    /// in order) to `start`; returns how many rows it leased.
    func lease(limit: Int, _ start: ([LeasedNotification]) -> Void) async throws(EngineError) -> Int {
        let leased = try await engine.leaseNotifications(limit: limit, settings: settings)
        var lines: [String: [LeasedNotification]] = [:]
        var order: [String] = []
        for notification in leased {
            let line = (notification.subscriptionId ?? notification.endpoint ?? "") + "/" + notification.onboardingId
            if lines[line] == nil { order.append(line) }
            lines[line, default: []].append(notification)
        }
        for line in order {
            start(lines[line] ?? [])
        }
        return leased.count
    }

    struct LineOutcome: Sendable {
        var delivered: [(id: String, status: Int)] = []
        var untried: [String] = []
    }

    /// Delivers one line in order, stopping at the first failure (recorded at once, with its retry or dead
    /// letter); returns what it delivered and what it left untried (for `DeliveryRecorder`).
    func deliver(line: [LeasedNotification], _ client: HTTPClient) async -> LineOutcome {
        var outcome = LineOutcome()
        for (index, notification) in line.enumerated() {
            let result = await send(notification, client)
            guard case .failed(let status, let reason, let retry) = result else {
                if case .delivered(let status) = result { outcome.delivered.append((notification.id, status)) }
                continue
            }
            outcome.untried = line[(index + 1)...].map(\.id)
            do {
                let last = try await engine.recordFailure(
                    notification, status: status, error: reason, settings: settings, retry: retry)
                logger.info(
                    last ? "notification dead-lettered" : "notification attempt failed; retrying",
                    metadata: ["id": "\(notification.id)", "attempt": "\(notification.attempt)", "error": "\(reason)"])
            } catch {
                logger.warning("a failed delivery could not be recorded", metadata: ["id": "\(notification.id)", "error": "\(error)"])
            }
            break
        }
        return outcome
    }

    enum Outcome {
        case delivered(status: Int)
        /// `retry` false: no later attempt can do better (the webhook is gone), so it is dead-lettered now.
        case failed(status: Int?, reason: String, retry: Bool = true)
    }

    private func send(_ notification: LeasedNotification, _ client: HTTPClient) async -> Outcome {
        let url: String
        let secret: String
        if let endpointName = notification.endpoint {
            guard let endpoint = endpoints.byName[endpointName] else {
                return .failed(status: nil, reason: "no endpoint '\(endpointName)' is configured (HANDOFF_ENDPOINTS)")
            }
            (url, secret) = (endpoint.url, endpoint.secret)
        } else {
            guard let subscriptionURL = notification.url, let subscriptionSecret = notification.secret else {
                // Removed while this notification was written: nowhere to send it, now or later.
                return .failed(status: nil, reason: "the webhook was removed", retry: false)
            }
            (url, secret) = (subscriptionURL, subscriptionSecret)
        }
        let body = Data(notification.body.utf8)
        let timestamp = Int(Date().timeIntervalSince1970)
        guard let signature = WebhookSignature.sign(id: notification.id, timestamp: timestamp, body: body, secret: secret)
        else { return .failed(status: nil, reason: "the secret is not a whsec_ secret") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Handoff")
        request.headers.add(name: "webhook-id", value: notification.id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: signature)
        request.body = .bytes(ByteBuffer(data: body))
        let status: Int
        let answer: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 1000)))
            status = Int(response.status.code)
            answer = try await response.body.collect(upTo: Self.maximumAnswer)
        } catch {
            return .failed(status: nil, reason: "the request failed: \(error)")
        }
        guard (200..<300).contains(status) else {
            let text = String(buffer: answer).prefix(200)
            return .failed(status: status, reason: "the receiver answered \(status)" + (text.isEmpty ? "" : ": \(text)"))
        }
        guard notification.kind == "call" else { return .delivered(status: status) }
        return await answerCall(notification, status: status, answer: answer)
    }

    /// Gives the engine an automated step's answer: a JSON object of the step's outputs.
    private func answerCall(_ notification: LeasedNotification, status: Int, answer: ByteBuffer) async -> Outcome {
        let text = String(buffer: answer)
        guard case .object(let outputs)? = try? Value(parsing: text.isEmpty ? "{}" : text) else {
            return .failed(status: status, reason: "the answer is not a JSON object: \(text.prefix(200))")
        }
        do {
            _ = try await engine.answerCall(
                onboardingId: notification.onboardingId, callId: notification.id, outputs: outputs,
                attempts: notification.attempt)
            return .delivered(status: status)
        } catch {
            switch error.code {
            case .notFound, .onboardingNotActive:
                // Nothing waits on the call any more (cancelled, or answered before): the delivery is done.
                return .delivered(status: status)
            case .invalidOutputs:
                return .failed(status: status, reason: error.message)
            default:
                return .failed(status: status, reason: "the answer could not be recorded: \(error.message)")
            }
        }
    }
}

/// Records the outcomes of a dispatcher's lines as they finish, as many as finished meanwhile in one transaction
/// (`Engine.settleDeliveries`): a line waits until its outcome is written, so that the next lease sees its next
/// rows free, while one write at a time carries every line that finished during the one before.
final class DeliveryRecorder: Sendable {
    private struct Pending {
        var delivered: [(id: String, status: Int)] = []
        var untried: [String] = []
        var waiting: [CheckedContinuation<Void, Never>] = []
        var writing = false
    }

    private let pending = Mutex(Pending())
    private let engine: Engine
    private let logger: Logger

    init(engine: Engine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    /// Returns once `outcome` is written (or its write failed: then the leases run out and those notifications are
    /// sent again, with the same ids).
    func record(_ outcome: NotificationDispatcher.LineOutcome) async {
        guard !outcome.delivered.isEmpty || !outcome.untried.isEmpty else { return }
        await withCheckedContinuation { continuation in
            let lead = pending.withLock { pending -> Bool in
                pending.delivered += outcome.delivered
                pending.untried += outcome.untried
                pending.waiting.append(continuation)
                if pending.writing { return false }
                pending.writing = true
                return true
            }
            if lead {
                Task { await self.write() }
            }
        }
    }

    private func write() async {
        while true {
            let taken = pending.withLock { pending -> Pending? in
                guard !pending.waiting.isEmpty else {
                    pending.writing = false
                    return nil
                }
                defer { pending = Pending(writing: true) }
                return pending
            }
            guard let taken else { return }
            do {
                try await engine.settleDeliveries(delivered: taken.delivered, untried: taken.untried)
            } catch {
                logger.warning("deliveries could not be recorded", metadata: ["error": "\(error)"])
            }
            taken.waiting.forEach { $0.resume() }
        }
    }
}
