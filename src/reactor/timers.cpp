#include "reactor/timers.hpp"

#include <algorithm>

namespace tofu::detail {

Clock::time_point Timers::earliest(const Slot& slot) noexcept {
    return *std::min_element(slot.due.begin(), slot.due.end());
}

void Timers::set(Slot& slot, Timeout kind, Clock::time_point when) {
    slot.due[static_cast<std::size_t>(kind)] = when;
    if (slot.index == not_queued) {
        slot.key = when;
        push(slot);
    } else if (when < slot.key) {
        slot.key = when;
        sift_up(slot.index);
    }
}

void Timers::push(Slot& slot) {
    heap_.push_back(&slot);
    slot.index = heap_.size() - 1;
    sift_up(slot.index);
}

void Timers::remove(Slot& slot) noexcept {
    if (slot.index == not_queued) return;
    const std::size_t index = slot.index;
    Slot* last = heap_.back();
    heap_.pop_back();
    slot.index = not_queued;
    if (last == &slot) return;
    place(index, last);
    sift_up(index);
    sift_down(last->index);
}

std::optional<Timers::Expiry> Timers::expire(Clock::time_point now) {
    while (!heap_.empty() && heap_.front()->key <= now) {
        Slot& slot = *heap_.front();
        const Clock::time_point due = earliest(slot);
        if (due == Clock::never()) {
            remove(slot);
            continue;
        }
        if (due != slot.key) { // moved later since it was queued: re-key, so expiries come earliest first
            slot.key = due;
            sift_down(0);
            continue;
        }
        const auto kind = static_cast<Timeout>(std::min_element(slot.due.begin(), slot.due.end()) - slot.due.begin());
        clear(slot, kind);
        slot.key = earliest(slot);
        if (slot.key == Clock::never()) remove(slot);
        else sift_down(0);
        return Expiry{slot.token, kind};
    }
    return std::nullopt;
}

void Timers::sift_up(std::size_t index) noexcept {
    Slot* slot = heap_[index];
    while (index != 0) {
        const std::size_t parent = (index - 1) / 2;
        if (heap_[parent]->key <= slot->key) break;
        place(index, heap_[parent]);
        index = parent;
    }
    place(index, slot);
}

void Timers::sift_down(std::size_t index) noexcept {
    Slot* slot = heap_[index];
    const std::size_t size = heap_.size();
    for (;;) {
        std::size_t child = 2 * index + 1;
        if (child >= size) break;
        if (child + 1 < size && heap_[child + 1]->key < heap_[child]->key) ++child;
        if (slot->key <= heap_[child]->key) break;
        place(index, heap_[child]);
        index = child;
    }
    place(index, slot);
}

} // namespace tofu::detail
