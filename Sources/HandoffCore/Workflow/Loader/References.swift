import Foundation
import Yams

// Which step follows which, and that every step a flow names exists.
extension DefinitionBuilder {
    // MARK: Resolution and checks

    /// Fills each step's `next` (explicit, or the following step of its list) and queues the references to check.
    mutating func resolveNext() {
        var members: [Set<String>] = []
        var listOfStep: [String: Int] = [:]
        for (listIndex, (listName, ids, isTopLevel)) in lists.enumerated() {
            let ids = ids
            members.append(Set(ids))
            for (index, id) in ids.enumerated() {
                listOfStep[id] = listIndex
                guard var step = steps[id] else { continue }
                let following = index + 1 < ids.count ? ids[index + 1] : nil
                if let (target, location) = explicitNext[id] {
                    step.next = target
                    pendingReferences.append(
                        PendingReference(
                            from: id, target: target, location: location, list: members[listIndex],
                            listName: listName))
                } else {
                    step.next = following
                    let needsNext: Bool
                    switch step.kind {
                    case .decision, .end: needsNext = step.condition != nil
                    default: needsNext = true
                    }
                    if isTopLevel, following == nil, needsNext {
                        error(
                            "step '\(id)' is the last step: give it 'next' or make it an 'end' step",
                            at: step.location)
                    }
                }
                steps[id] = step
            }
        }
        // References written inside steps (decision branches, on_timeout) belong to the list of their step.
        for index in pendingReferences.indices where pendingReferences[index].listName.isEmpty {
            if let from = pendingReferences[index].from, let listIndex = listOfStep[from] {
                pendingReferences[index].list = members[listIndex]
                pendingReferences[index].listName = lists[listIndex].name
            }
        }
    }

    mutating func checkReferences() {
        for reference in pendingReferences {
            let subject = reference.from.map { "step '\($0)'" } ?? "'start'"
            if steps[reference.target] == nil {
                let candidates = reference.list.isEmpty ? stepOrder : reference.list.sorted()
                let suggestion = Self.closest(to: reference.target, in: candidates).map { "; did you mean '\($0)'?" }
                error(
                    "\(subject) refers to unknown step '\(reference.target)'" + (suggestion ?? ""),
                    at: reference.location)
                referenceProblems += 1
            } else if !reference.list.contains(reference.target) {
                error(
                    "\(subject) refers to step '\(reference.target)', which is not in \(reference.listName)",
                    at: reference.location)
                referenceProblems += 1
            }
        }
    }
}
