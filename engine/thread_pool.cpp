#include "engine/thread_pool.h"

#include <algorithm>

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

void ThreadPool::run_item(Job& job, std::size_t item, std::unique_lock<std::mutex>& lock) {
    if (job.next == job.count) open_.erase(std::find(open_.begin(), open_.end(), &job));
    lock.unlock();
    std::exception_ptr error;
    try {
        (*job.body)(item);
    } catch (...) {
        error = std::current_exception();
    }
    lock.lock();
    if (error && !job.error) job.error = error;
    // The job's owner may return as soon as this reaches count: `job` is not
    // touched after it.
    if (++job.finished == job.count) done_.notify_all();
}

void ThreadPool::worker_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || !open_.empty(); });
        if (stop_) return;
        Job& job = *open_.front();
        run_item(job, job.next++, lock);
    }
}

void ThreadPool::parallel_for(std::size_t count, const std::function<void(std::size_t)>& body) {
    Job job;
    job.body = &body;
    job.count = count;
    if (workers_.empty() || count < 2) {  // inline
        for (std::size_t item = 0; item < count; ++item) {
            try {
                body(item);
            } catch (...) {
                if (!job.error) job.error = std::current_exception();
            }
        }
        if (job.error) std::rethrow_exception(job.error);
        return;
    }
    std::unique_lock lock(mutex_);
    open_.push_back(&job);
    wake_.notify_all();
    // The caller takes items of its own job only, so nested and concurrent
    // calls always progress; then it waits for the items the workers took.
    while (job.next < job.count) run_item(job, job.next++, lock);
    done_.wait(lock, [&] { return job.finished == job.count; });
    if (job.error) std::rethrow_exception(job.error);
}

}  // namespace engine
