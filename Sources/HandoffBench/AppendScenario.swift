import Foundation
import HandoffStore
import Postgres

/// `append`: events appended with an expected version, one or ten per transaction, each client on streams of
/// its own of 20 events; against plain INSERTs of equal rows into a table shaped like `events`, sent through
/// Handoff's pool and by pgbench.
struct AppendScenario {
    let pool: ConnectionPool
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        try await Baselines.createEventTable(pool)
        let store = EventStore(pool: pool)
        let pgbench = try PgBench(configuration: configuration)
        let sample = Self.events(1)[0]
        var results: [ScenarioResult] = []
        for batch in [1, 10] {
            for clients in settings.clients ?? [1, 4, 16] {
                let run = UUID().uuidString.prefix(8)
                var round = 0
                results.append(try await interleave(
                    name: batch == 1 ? "append" : "append-10", clients: clients, unit: "events/s",
                    rounds: settings.rounds, warmUp: true,
                    engine: {
                        round += 1
                        let prefix = "bench-\(run)-\(round)"
                        return try await measureRate(
                            clients: clients, duration: settings.duration, on: pool.executor
                        ) { client, iteration in
                            let appendsPerStream = 20 / batch
                            let stream = "\(prefix)-\(client)-\(iteration / appendsPerStream)"
                            let version = Int64((iteration % appendsPerStream) * batch)
                            _ = try await store.append(
                                to: stream, expected: version == 0 ? .noStream : .exact(version),
                                events: Self.events(batch)
                            )
                            return batch
                        }
                    },
                    baseline: {
                        let prefix = "bench-\(run)-\(round)"
                        return try await measureRate(
                            clients: clients, duration: settings.duration, on: pool.executor
                        ) { client, iteration in
                            let appendsPerStream = 20 / batch
                            let stream = "\(prefix)-\(client)-\(iteration / appendsPerStream)"
                            let version = Int64((iteration % appendsPerStream) * batch)
                            let events = Self.events(batch)
                            try await pool.withAsyncConnection { connection in
                                try await Baselines.insertEvents(
                                    on: connection, streamId: stream, firstVersion: version + 1, events: events
                                )
                            }
                            return batch
                        }
                    },
                    pgbench: {
                        let run = try await pgbench.run(
                            script: Baselines.pgbenchAppendScript(batch: batch), clients: clients,
                            duration: settings.duration,
                            variables: [
                                "n": "0", "run": "\(run)-\(round)", "type": sample.type,
                                "data": String(decoding: sample.data, as: UTF8.self),
                                "metadata": sample.metadata.jsonText,
                            ])
                        let events = Double(run.transactions * batch)
                        return (run.transactionsPerSecond * Double(batch), events > 0 ? run.cpuSeconds * 1e6 / events : 0)
                    }
                ))
            }
        }
        return results
    }

    static func events(_ count: Int) -> [NewEvent] {
        (0..<count).map { _ in
            NewEvent(
                type: "TaskCompleted",
                data: Data(#"{"taskId":"bench-t1","user":"se@example.com","outputs":{"upn":"svc@contoso.com"}}"#.utf8),
                metadata: EventMetadata(actor: "se@example.com", commandId: "bench")
            )
        }
    }
}
