import Foundation
import HandoffService
import Logging

/// Where `handoff serve` listens and what it serves from.
public struct ServerSettings: Sendable {
    public var engine: EngineSettings
    public var host: String
    /// 0 picks a free port (tests read the one chosen from `onServerRunning`).
    public var port: Int
    /// The largest request body accepted; a larger one is refused with 413 before it is read whole.
    public var maximumBodySize: Int
    public var logLevel: Logger.Level
    /// How often the event streams look for new events when no notification woke them (a lost notification
    /// delays a live page by this much at most).
    public var livePollInterval: Duration = .seconds(2)

    public init(
        engine: EngineSettings, host: String = "127.0.0.1", port: Int = 8080, maximumBodySize: Int = 1 << 20,
        logLevel: Logger.Level = .info
    ) {
        self.engine = engine
        self.host = host
        self.port = port
        self.maximumBodySize = maximumBodySize
        self.logLevel = logLevel
    }

    /// `HANDOFF_HOST` and `HANDOFF_PORT` (default `127.0.0.1:8080`), `LOG_LEVEL`, and the engine's variables.
    /// Throws `invalid_input` for a port that is not a number from 0 to 65535.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(EngineError) -> ServerSettings
    {
        let host = environment["HANDOFF_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        var port = 8080
        if let text = environment["HANDOFF_PORT"], !text.isEmpty {
            guard let number = Int(text), (0...65_535).contains(number) else {
                throw EngineError(.invalidInput, "HANDOFF_PORT must be a port number from 0 to 65535, not '\(text)'")
            }
            port = number
        }
        let logLevel = environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        // The server answers many requests at once: a larger pool than a one-shot command's.
        return ServerSettings(
            engine: .fromEnvironment(environment, maximumConnections: 16), host: host, port: port, logLevel: logLevel)
    }
}
