import Foundation
import HandoffService
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `handoff serve`: the one long-running host. It opens the engine, runs the HTTP API and the background services
/// beside it under one service group, and on SIGTERM or SIGINT stops accepting connections, finishes the requests
/// in flight, stops the background services and closes the pool.
public enum Host {
    /// Runs until a shutdown signal. `background` builds the services that run beside the server on its engine;
    /// `onServerRunning` learns the port once the server listens.
    public static func serve(
        _ settings: ServerSettings, logger: Logger,
        background: @Sendable (Engine) -> [any Service] = { _ in [] },
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let engine = try await Engine.open(settings.engine)
        defer { engine.pool.close() }
        let application = try buildApplication(
            engine: engine, settings: settings, services: background(engine), logger: logger,
            onServerRunning: onServerRunning)
        try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        await engine.flushNotifications()
    }
}
