import ArgumentParser
import Foundation
import HandoffCore

/// The `handoff` command: every subcommand parses its arguments, calls the store or the core, and renders.
@main
struct Handoff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff",
        abstract: "An event-sourced workflow engine for onboardings, on PostgreSQL.",
        version: "handoff \(version)",
        subcommands: [
            Database.self,
            Dev.self,
            Workflows.self,
            Demo.self,
            Start.self,
            Status.self,
            Tasks.self,
            Claim.self,
            Release.self,
            Complete.self,
            Signal.self,
            Cancel.self,
            Upgrade.self,
            History.self,
            Replay.self,
            ProjectionsCommand.self,
            Verify.self,
            ArchiveCommand.self,
            Export.self,
            Import.self,
            Apply.self,
            Serve.self,
            Worker.self,
            Tokens.self,
            Webhooks.self,
            Notifications.self,
            BenchCommand.self,
        ]
    )

    static let version = "0.5.0"

    /// A word where a subcommand belongs that names none, with the subcommand it is most likely a typo of.
    static func nearMiss(_ arguments: [String]) -> (typed: String, suggestion: String)? {
        var command: any ParsableCommand.Type = Handoff.self
        for argument in arguments {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !argument.hasPrefix("-") else { return nil }
            let names = subcommands.map { $0._commandName }
            guard let index = names.firstIndex(of: argument) else {
                guard argument != "help", let suggestion = WorkflowLoader.closest(to: argument, in: names) else {
                    return nil
                }
                return (argument, suggestion)
            }
            command = subcommands[index]
        }
        return nil
    }

    /// Parses and runs the command. Unlike the default entry point, it refuses arguments that are not valid
    /// UTF-8 (decoding would replace their bytes, and two different arguments would name one onboarding), and
    /// with `--json` it reports a parse failure as the JSON error document every other failure is.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let json = arguments.contains("--json")
        for index in 1..<Int(CommandLine.argc) {
            if let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) == nil {
                Output.report(
                    code: "invalid_input", message: "argument \(index) is not valid UTF-8 text", json: json)
                Foundation.exit(1)
            }
        }
        if let (typed, suggestion) = nearMiss(arguments) {
            Output.report(
                code: "invalid_input", message: "unknown command '\(typed)'; did you mean '\(suggestion)'?", json: json)
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let status = exitCode(for: error)
            if json, !(error is ExitCode), status != .success {
                let message = message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                Output.report(code: "invalid_input", message: message, json: true)
                Foundation.exit(status.rawValue)
            }
            exit(withError: error)
        }
    }
}
