import Foundation
import Yams

// What the flow can reach, that every path can end, and how wide it may wait.
extension DefinitionBuilder {
    // MARK: Reachability and ends

    /// Reports steps no path reaches and steps from which no path ends.
    mutating func checkReachability(start: String, topLevel: [String]) {
        guard !start.isEmpty else { return }
        var reached = Set<String>()
        var usedBlocks = Set<String>()
        var frontier = [start]
        while let id = frontier.popLast() {
            guard reached.insert(id).inserted, let step = steps[id] else { continue }
            frontier.append(contentsOf: step.successors)
            switch step.kind {
            case .parallel(let parallel):
                frontier.append(contentsOf: parallel.branches.compactMap(\.steps.first))
            case .block(let call):
                if usedBlocks.insert(call.block).inserted, let first = blocks[call.block]?.steps.first {
                    frontier.append(first)
                }
            default:
                break
            }
        }
        for name in blockOrder where !usedBlocks.contains(name) {
            if let block = blocks[name] {
                error("block '\(name)' is never used", at: block.location)
            }
        }
        for id in stepOrder where !reached.contains(id) {
            guard let step = steps[id], step.placement.block == nil || usedBlocks.contains(step.placement.block ?? "")
            else {
                continue
            }
            error("step '\(id)' is unreachable", at: step.location)
        }

        // A step can end if it ends the run, leaves its list (join or return), or leads to one that can. Worked
        // backwards from the steps that end: each step is looked at again only when one it leads to can end.
        var canEnd = Set<String>()
        var dependents: [String: [String]] = [:]
        for id in stepOrder {
            guard let step = steps[id] else { continue }
            var leadsTo = step.successors
            if case .parallel(let parallel) = step.kind {
                leadsTo += parallel.branches.compactMap(\.steps.first)
            }
            for target in leadsTo {
                dependents[target, default: []].append(id)
            }
        }
        func ends(_ step: Step) -> Bool {
            switch step.kind {
            case .end:
                return true
            case .decision(let decision):
                return decision.otherwise == nil || step.successors.contains(where: canEnd.contains)
            case .parallel(let parallel):
                let branchesEnd = parallel.branches.allSatisfy { $0.steps.first.map(canEnd.contains) ?? true }
                return branchesEnd && (step.next == nil || canEnd.contains(step.next ?? ""))
            default:
                return step.next == nil || step.successors.contains(where: canEnd.contains)
            }
        }
        var ready = stepOrder.filter { id in steps[id].map(ends) ?? false }
        while let id = ready.popLast() {
            guard canEnd.insert(id).inserted else { continue }
            for dependent in dependents[id] ?? [] where !canEnd.contains(dependent) {
                if let step = steps[dependent], ends(step) {
                    ready.append(dependent)
                }
            }
        }
        var reported = Set<String>()
        for id in stepOrder where reached.contains(id) && !canEnd.contains(id) && !reported.contains(id) {
            guard let step = steps[id] else { continue }
            // Name the whole loop once: every step stuck with this one.
            let loop = stepOrder.filter { other in
                reached.contains(other) && !canEnd.contains(other) && steps[other]?.placement == step.placement
            }
            reported.formUnion(loop)
            let names = loop.map { "'\($0)'" }.joined(separator: ", ")
            error(
                loop.count == 1
                    ? "step '\(id)' can never reach an end: every path from it loops"
                    : "steps \(names) can never reach an end: every path from them loops",
                at: step.location)
        }
    }

    /// Refuses a flow that could wait in more than `WorkflowLoader.maximumWidth` steps at once (parallel branches
    /// and the blocks they run, multiplied out), so that what one command opens or withdraws fits in one append.
    mutating func checkWidth(topLevel: [String], at location: SourcePosition) {
        var blockWidths: [String: Int] = [:]
        func width(of list: [String]) -> Int {
            list.reduce(1) { widest, id in max(widest, width(ofStep: id)) }
        }
        func width(ofStep id: String) -> Int {
            switch steps[id]?.kind {
            case .parallel(let parallel):
                // Capped as it is summed, so that a huge fan-out can't overflow.
                return parallel.branches.reduce(0) { min($0 + width(of: $1.steps), WorkflowLoader.maximumWidth + 1) }
            case .block(let call):
                if let known = blockWidths[call.block] { return known }
                let known = width(of: blocks[call.block]?.steps ?? [])
                blockWidths[call.block] = known
                return known
            default:
                return 1
            }
        }
        let widest = width(of: topLevel)
        if widest > WorkflowLoader.maximumWidth {
            error(
                "the flow can wait in more than \(WorkflowLoader.maximumWidth) steps at once (its parallel branches "
                    + "and the blocks they run); split it into several workflows",
                at: location)
        }
    }
}
