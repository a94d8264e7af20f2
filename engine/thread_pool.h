// A small fixed thread pool: parallel_for hands out indices 0..count-1 to the
// workers and the calling thread, and returns when all are done. The first
// exception thrown by the body is rethrown in the caller.
#pragma once

#include <condition_variable>
#include <cstddef>
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

    // One parallel_for at a time per pool; calls from several threads queue.
    void parallel_for(std::size_t count, const std::function<void(std::size_t)>& body);

private:
    void worker_loop();
    void run_items();

    std::vector<std::thread> workers_;
    std::mutex call_mutex_;  // serialises parallel_for calls
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(std::size_t)>* body_ = nullptr;
    std::size_t count_ = 0, next_ = 0, finished_ = 0;
    unsigned long generation_ = 0;
    int busy_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

}  // namespace engine
