import Foundation
import HandoffCore
import HandoffService
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `handoff serve`: the one long-running host. It opens the engine, runs the HTTP API and the background services
/// beside it (the timer scheduler, the outbox dispatcher, the projection runner, and what `background` adds) under one service group, and on SIGTERM or SIGINT stops accepting connections, finishes the requests
/// in flight, stops the background services and closes the pool.
public enum Host {
    /// Runs until a shutdown signal. `background` builds the services that run beside the server on its engine;
    /// `onServerRunning` learns the port once the server listens.
    public static func serve(
        _ settings: ServerSettings, logger: Logger,
        background: @Sendable (Engine) -> [any Service] = { _ in [] },
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let endpoints = try Endpoints.fromEnvironment()
        let archiveAfter = try Archiver.after()
        let engine = try await Engine.open(settings.engine)
        defer { engine.close() }
        let application = try buildApplication(
            engine: engine, settings: settings,
            services: backgroundServices(engine, endpoints: endpoints, archiveAfter: archiveAfter, logger: logger)
                + background(engine),
            logger: logger,
            onServerRunning: onServerRunning)
        try await application.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        await engine.flushNotifications()
    }

    /// The services `serve` and `worker` both run: the timer scheduler, the outbox dispatcher, the projection
    /// runner and, with `HANDOFF_ARCHIVE_AFTER`, the archiver.
    static func backgroundServices(_ engine: Engine, endpoints: Endpoints, archiveAfter: TimeSpan?, logger: Logger)
        -> [any Service]
    {
        [
            TimerScheduler(engine: engine, leaseSeconds: TimerScheduler.leaseSeconds(), logger: logger),
            NotificationDispatcher(engine: engine, endpoints: endpoints, logger: logger),
            ProjectionRunner(engine: engine, leaseSeconds: ProjectionRunner.leaseSeconds(), logger: logger),
        ] + (archiveAfter.map { [Archiver(engine: engine, after: $0, logger: logger)] } ?? [])
    }

    /// `handoff worker`: the background services without HTTP (the timer scheduler, the outbox dispatcher and the
    /// projection runner),
    /// until SIGTERM or SIGINT.
    public static func work(_ settings: EngineSettings, logger: Logger, onRunning: @Sendable () -> Void = {}) async throws {
        let endpoints = try Endpoints.fromEnvironment()
        let archiveAfter = try Archiver.after()
        let engine = try await Engine.open(settings)
        defer { engine.close() }
        let group = ServiceGroup(
            configuration: .init(
                services: backgroundServices(engine, endpoints: endpoints, archiveAfter: archiveAfter, logger: logger),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        onRunning()
        try await group.run()
        await engine.flushNotifications()
    }
}
