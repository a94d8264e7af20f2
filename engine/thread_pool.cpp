#include "engine/thread_pool.h"

namespace engine {

ThreadPool::ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
}

// Takes items until none is left; records the first exception.
void ThreadPool::run_items() {
    std::unique_lock lock(mutex_);
    while (next_ < count_) {
        const std::size_t item = next_++;
        lock.unlock();
        try {
            (*body_)(item);
        } catch (...) {
            lock.lock();
            if (!error_) error_ = std::current_exception();
            ++finished_;
            continue;
        }
        lock.lock();
        ++finished_;
    }
}

void ThreadPool::worker_loop() {
    unsigned long seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        ++busy_;
        lock.unlock();
        run_items();
        lock.lock();
        --busy_;
        done_.notify_all();
    }
}

void ThreadPool::parallel_for(std::size_t count, const std::function<void(std::size_t)>& body) {
    std::lock_guard call(call_mutex_);
    {
        std::lock_guard lock(mutex_);
        body_ = &body;
        count_ = count;
        next_ = finished_ = 0;
        error_ = nullptr;
        ++generation_;
    }
    wake_.notify_all();
    run_items();
    std::unique_lock lock(mutex_);
    // Wait for the items and for every worker to leave run_items(), so none
    // touches body_ after we return.
    done_.wait(lock, [&] { return finished_ == count_ && busy_ == 0; });
    body_ = nullptr;
    if (error_) std::rethrow_exception(error_);
}

}  // namespace engine
