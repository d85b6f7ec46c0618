import ArgumentParser
import Foundation
import HandoffService

/// `handoff export ONBOARDING > run.ndjson`
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one onboarding with its pinned definition as NDJSON, for `handoff import` elsewhere.",
        discussion: """
            Every event keeps its id, time and metadata; the definition the onboarding started with travels with \
            it, so another database (a laptop's) replays it exactly: `handoff export demo > demo.ndjson`, then \
            `handoff import demo.ndjson` there.
            """)

    @OptionGroup var output: OutputOptions

    @Argument(help: "The onboarding id.")
    var onboarding: String

    func run() async throws {
        try await Output.run(output) {
            let export = try await CommandEngine.run { engine in try await engine.export(onboarding) }
            FileHandle.standardOutput.write(Data(export.ndjson.utf8))
        }
    }
}

/// `handoff import FILE`
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store an onboarding that `handoff export` wrote, with its definition, in this database.",
        discussion: """
            FILE is the export (- reads stdin). The whole file is checked first (each line, the definition's \
            content hash, the events' order, that they fold through the definition); then the definition, the \
            events and the projection rows are written in one transaction, and no webhook is told. The onboarding \
            must not exist here. Afterwards it is live here: `handoff replay`, `history` and `verify` see it.
            """)

    @OptionGroup var output: OutputOptions

    @Argument(help: "The export file, or - for stdin.")
    var file: String

    func run() async throws {
        try await Output.run(output) {
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw CommandFailure(code: "not_found", message: "no file \(file) (or it cannot be read)")
                }
                data = contents
            }
            let export = try OnboardingExport(parsing: data)
            let view = try await CommandEngine.run { engine in try await engine.importOnboarding(export) }
            try output.show(view) {
                print("Imported onboarding \(view.id) (\(view.workflow) v\(view.workflowVersion), \(export.events.count) events).")
                print("")
                Render.onboarding(view)
            }
        }
    }
}
