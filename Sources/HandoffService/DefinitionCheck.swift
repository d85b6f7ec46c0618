import Foundation
import HandoffCore
import HandoffStore
import Postgres

/// What `verify --definitions DIR` found: every stored run replayed through the candidate definition of its
/// workflow, and the runs whose recorded decisions the candidate would make differently.
public struct DefinitionCheckReport: Codable, Sendable, Equatable {
    /// A run the candidate would decide differently, at its first differing decision.
    public struct Change: Codable, Sendable, Equatable {
        public var onboarding: String
        public var workflow: String
        /// The version the run is pinned to, and the candidate's.
        public var pinnedVersion: Int
        public var candidateVersion: Int
        /// The first event that differs: its version in the stream, what the history has there and what the
        /// candidate decides instead (a type and its summary; null past the end of either, or when the candidate
        /// refuses the command).
        public var version: Int64
        @Nullable public var recorded: String?
        @Nullable public var decided: String?
        /// The command that decides differently, in a sentence.
        public var detail: String
    }

    /// Stored runs, and those of a workflow the folder defines (the others are left alone).
    public var streams: Int
    public var checked: Int
    /// Commands decided again.
    public var decisions: Int
    public var changes: [Change]
    /// Runs of workflows the folder does not define, by workflow id.
    public var withoutCandidate: [String: Int]

    public var ok: Bool { changes.isEmpty }
}

extension Engine {
    /// Replays every stored run through the candidate definition of its workflow among `candidates` (the one of
    /// its pinned version when there is one, else the newest) and decides each recorded command again: a run
    /// whose decisions would change is listed with its first differing event. Runs are pinned to their
    /// definitions, so this is what an `upgrade` of a run, or a run started under the candidate that met the same
    /// answers and times, would meet. Reads in one snapshot; writes nothing.
    ///
    /// Throws `invalid_input` when `candidates` is empty or defines one workflow version twice.
    public func verify(candidates: [WorkflowDefinition]) async throws(EngineError) -> DefinitionCheckReport {
        guard !candidates.isEmpty else { throw EngineError(.invalidInput, "no candidate definitions to check against") }
        var byWorkflow: [String: [Int: Interpreter]] = [:]
        for candidate in candidates {
            if byWorkflow[candidate.id]?[candidate.version] != nil {
                throw EngineError(
                    .invalidInput, "two candidate files define \(candidate.id) v\(candidate.version)")
            }
            byWorkflow[candidate.id, default: [:]][candidate.version] = Interpreter(definition: candidate)
        }
        let interpreters = byWorkflow
        do {
            return try await pool.withTransaction(isolation: .repeatableRead) { connection in
                var report = DefinitionCheckReport(streams: 0, checked: 0, decisions: 0, changes: [], withoutCandidate: [:])
                try Self.forEachStream(on: connection) { events in
                    report.streams += 1
                    let id = events[0].streamId
                    guard let decoded = try? Folding.decode(events), case .started(let started)? = decoded.first else {
                        report.changes.append(
                            DefinitionCheckReport.Change(
                                onboarding: id, workflow: "?", pinnedVersion: 0, candidateVersion: 0, version: 1,
                                recorded: nil, decided: nil, detail: "its events do not decode (see `handoff verify`)"))
                        return
                    }
                    guard let versions = interpreters[started.workflowId], let newest = versions.keys.max() else {
                        report.withoutCandidate[started.workflowId, default: 0] += 1
                        return
                    }
                    let candidateVersion = versions[started.workflowVersion] != nil ? started.workflowVersion : newest
                    let interpreter = versions[candidateVersion]!
                    report.checked += 1
                    let (checked, differences) = Self.redecide(
                        events, decoded: decoded, interpreter: { _ in interpreter }, candidate: interpreter, first: true)
                    report.decisions += checked
                    if let difference = differences.first {
                        report.changes.append(
                            DefinitionCheckReport.Change(
                                onboarding: id, workflow: started.workflowId, pinnedVersion: started.workflowVersion,
                                candidateVersion: candidateVersion,
                                version: difference.differing?.version ?? difference.version,
                                recorded: difference.differing?.recorded, decided: difference.differing?.decided,
                                detail: difference.detail))
                    }
                }
                return report
            }
        } catch {
            throw EngineError.from(error)
        }
    }
}
