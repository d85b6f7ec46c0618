import Foundation
import HTTPTypes
import HandoffHTTP
import HandoffService
import HandoffStore
import Hummingbird
import Logging
import Postgres
import Synchronization

/// `outbox`: writers claiming and completing tasks through the engine (as `claim` measures them) while a webhook
/// subscribed to every notification is delivered by a dispatcher on a pool of its own (as another process's would
/// be) to a receiver on loopback; against the same writers with no subscription, the dispatcher idle. Each claim and
/// completion writes its notifications in its own transaction, so the ratio is what subscribers cost the writers.
///
/// Also: the delay from each notification's transaction to its arrival at the receiver (p50 and p99, ms, against
/// one claim-and-complete command's in the baseline's run), and the notifications delivered per second from the
/// writers' start until the outbox is empty.
struct OutboxScenario {
    let pool: ConnectionPool
    let engine: Engine
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        let queued = settings.size(20_000, minimum: 50)
        let first = try await MailSend.start(engine, tag: "outbox")
        try await MailSend.clone(pool, source: first.id, tag: "q", count: queued - 1)
        let receiver = try await BenchReceiver.start()
        defer { receiver.stop() }
        let dispatchPool = ConnectionPool(configuration, maximumConnections: 4)
        defer { dispatchPool.close() }
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let dispatcher = NotificationDispatcher(
            engine: Engine(pool: dispatchPool, workflows: engine.workflows), logger: logger)
        let dispatching = Task { try await dispatcher.run() }
        defer { dispatching.cancel() }

        let engine = engine
        let pool = pool
        var results: [ScenarioResult] = []
        for clients in settings.clients ?? [16] {
            var delays: [[Double]] = []
            var deliveryRates: [Double] = []
            var commandLatencies: [Double] = []
            var engineRuns = 0
            let work: @Sendable (LatencySamples?) async throws -> Double = { samples in
                try await measureRate(
                    clients: clients, duration: settings.duration, on: pool.executor
                ) { client, _ in
                    let user = "bench-outbox-\(client)"
                    let began = ContinuousClock.now
                    guard let task = try await engine.nextTask(roles: [MailSend.admin], user: user) else { return 0 }
                    let (outputs, checklist) = MailSend.answers(task)
                    _ = try await engine.complete(taskId: task.id, user: user, outputs: outputs, checklist: checklist)
                    samples?.add(seconds(ContinuousClock.now - began) * 1000)
                    return 1
                }
            }
            results.append(
                try await interleave(
                    name: "outbox", clients: clients, unit: "tasks/s", rounds: settings.rounds, warmUp: true,
                    engine: {
                        let hook = try await engine.addWebhook(url: receiver.url)
                        let start = Date()
                        let rate = try await work(nil)
                        // Until the dispatcher has emptied the outbox (at most a minute).
                        var drained = Date()
                        for _ in 0..<600 {
                            drained = Date()
                            if try await pool.withConnection({ try Baselines.pendingNotifications(on: $0) }) == 0 { break }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        let written = try await pool.withConnection { connection in
                            try Baselines.notificationTimes(on: connection, subscription: hook.id)
                        }
                        let arrivals = receiver.arrivals
                        engineRuns += 1
                        // The first run is the unreported warm-up.
                        if engineRuns > 1 {
                            delays.append(
                                written.compactMap { id, at in arrivals[id].map { max(0, $0.timeIntervalSince(at)) * 1000 } })
                            deliveryRates.append(Double(written.count) / max(drained.timeIntervalSince(start), 1e-9))
                        }
                        try await engine.removeWebhook(id: hook.id)
                        receiver.reset()
                        return rate
                    },
                    baseline: {
                        let samples = LatencySamples()
                        let rate = try await work(samples)
                        commandLatencies = samples.all
                        return rate
                    }))
            let peak = results.last?.peakRSSBytes ?? 0
            results.append(
                ScenarioResult(
                    name: "outbox-delivered", clients: clients, unit: "notifications/s", engine: .init(deliveryRates),
                    baseline: .init(results.last.map { [$0.engine.median] } ?? []),
                    ratios: deliveryRates.map { rate in (results.last?.engine.median).map { $0 == 0 ? 0 : rate / $0 } ?? 0 },
                    peakRSSBytes: peak))
            for (name, fraction) in [("outbox-delay-p50", 0.5), ("outbox-delay-p99", 0.99)] {
                let figures = delays.map { percentile($0, fraction) }
                let baseline = percentile(commandLatencies, fraction)
                results.append(
                    ScenarioResult(
                        name: name, clients: clients, unit: "ms", engine: .init(figures), baseline: .init([baseline]),
                        ratios: figures.map { baseline == 0 ? 0 : $0 / baseline }, peakRSSBytes: peak))
            }
        }
        dispatching.cancel()
        _ = await dispatching.result
        return results
    }
}

/// The bench's webhook receiver: answers 200 at once and notes when each `webhook-id` first arrived.
final class BenchReceiver: Sendable {
    private let seen = Mutex<[String: Date]>([:])
    private let task = Mutex<Task<Void, any Error>?>(nil)
    private let port = Mutex(0)

    var url: String { "http://127.0.0.1:\(port.withLock { $0 })/hook" }
    var arrivals: [String: Date] { seen.withLock { $0 } }

    func reset() {
        seen.withLock { $0 = [:] }
    }

    static func start() async throws -> BenchReceiver {
        let receiver = BenchReceiver()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let now = Date()
            if let id = request.headers[HTTPField.Name("webhook-id")!] {
                receiver.seen.withLock { if $0[id] == nil { $0[id] = now } }
            }
            return Response(status: .ok)
        }
        var logger = Logger(label: "bench-receiver")
        logger.logLevel = .critical
        let ready = AsyncStream<Int>.makeStream()
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            }, logger: logger)
        let running = Task { try await application.runService(gracefulShutdownSignals: []) }
        for await value in ready.stream { receiver.port.withLock { $0 = value } }
        receiver.task.withLock { $0 = running }
        return receiver
    }

    func stop() {
        task.withLock { $0 }?.cancel()
    }
}
