// A small fixed thread pool: parallel_for hands out indices 0..count-1 to the
// workers and the calling thread, and returns when all are done. The first
// exception thrown by the body is rethrown in the caller.
//
// Several threads may call parallel_for at once (the service's request
// threads each detecting a photo): each call is a job; the caller works on
// its own job's items, and idle workers help the oldest job with items left.
// A body may itself call parallel_for on the same pool.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace engine {

class ThreadPool {
public:
    // `threads` workers in total, the caller included (1: run inline).
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    void parallel_for(std::size_t count, const std::function<void(std::size_t)>& body);

private:
    struct Job {
        const std::function<void(std::size_t)>* body = nullptr;
        std::size_t count = 0, next = 0, finished = 0;
        std::exception_ptr error;
    };
    void worker_loop();
    // Runs item `item` of `job` with the lock released; counts it as finished.
    void run_item(Job& job, std::size_t item, std::unique_lock<std::mutex>& lock);

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::deque<Job*> open_;  // jobs with items not yet handed out, oldest first
    bool stop_ = false;
};

}  // namespace engine
