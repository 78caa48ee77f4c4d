/*
 * The physical limit the kit measures every transport against: a minimal HTTP/1.1 server in C on edge-triggered
 * epoll, doing no more than a benchmark needs. It answers GET /plaintext and GET /json with fixed bodies (no
 * routing, no header parsing beyond "Connection: close", no JSON serialization), keeps connections alive, answers
 * pipelined requests with one write per batch, and closes after "Connection: close". One epoll loop per thread,
 * each with its own SO_REUSEPORT listening socket.
 *
 *   gcc -O2 -o epoll-server epoll-server.c -lpthread
 *   ./epoll-server PORT [THREADS]
 *
 * Not a server to deploy: it trusts its clients (a request larger than its 16 KiB buffer closes the connection).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_SIZE 16384
#define WRITE_SIZE 65536

struct connection {
    int fd;
    int close_after_write;
    size_t read_length;
    size_t write_offset;
    size_t write_length;
    char read_buffer[READ_SIZE];
    char write_buffer[WRITE_SIZE];
};

static int port;
static __thread char date_header[64];
static __thread time_t date_second;

static void update_date(void)
{
    time_t now = time(NULL);
    if (now != date_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date_header, sizeof date_header, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        date_second = now;
    }
}

static int append_response(struct connection *c, const char *type, const char *body)
{
    size_t room = WRITE_SIZE - c->write_length;
    int n = snprintf(c->write_buffer + c->write_length, room,
        "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nContent-Type: %s\r\n%sServer: C\r\n%s\r\n%s",
        strlen(body), type, date_header, c->close_after_write ? "Connection: close\r\n" : "", body);
    if (n < 0 || (size_t)n >= room) {
        return -1;
    }
    c->write_length += (size_t)n;
    return 0;
}

/* Answers every complete request in the read buffer; -1 closes the connection. */
static int handle_requests(struct connection *c)
{
    size_t start = 0;
    for (;;) {
        char *head = c->read_buffer + start;
        char *end = memmem(head, c->read_length - start, "\r\n\r\n", 4);
        if (end == NULL) {
            break;
        }
        *end = '\0';
        if (strcasestr(head, "\r\nConnection: close") != NULL) {
            c->close_after_write = 1;
        }
        int failed = strncmp(head, "GET /json ", 10) == 0
            ? append_response(c, "application/json", "{\"message\":\"Hello, World!\"}")
            : append_response(c, "text/plain", "Hello, World!");
        if (failed) {
            return -1;
        }
        start = (size_t)(end - c->read_buffer) + 4;
        if (c->close_after_write) {
            break;
        }
    }
    memmove(c->read_buffer, c->read_buffer + start, c->read_length - start);
    c->read_length -= start;
    return 0;
}

/* Writes what is pending; 1 when all of it went, 0 when the socket is full, -1 on error. */
static int flush_writes(struct connection *c)
{
    while (c->write_offset < c->write_length) {
        ssize_t n = write(c->fd, c->write_buffer + c->write_offset, c->write_length - c->write_offset);
        if (n < 0) {
            return errno == EAGAIN ? 0 : -1;
        }
        c->write_offset += (size_t)n;
    }
    c->write_offset = c->write_length = 0;
    return 1;
}

static void close_connection(struct connection *c)
{
    close(c->fd);
    free(c);
}

/* Reads until EAGAIN, answering as it goes; -1 closes the connection. */
static int on_readable(struct connection *c)
{
    for (;;) {
        if (c->read_length == READ_SIZE) {
            return -1;
        }
        ssize_t n = read(c->fd, c->read_buffer + c->read_length, READ_SIZE - c->read_length);
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            return errno == EAGAIN ? 0 : -1;
        }
        c->read_length += (size_t)n;
        if (handle_requests(c) != 0) {
            return -1;
        }
        int flushed = flush_writes(c);
        if (flushed < 0 || (flushed == 1 && c->close_after_write)) {
            return -1;
        }
        if (flushed == 0) {
            return 0; /* EPOLLOUT resumes; reading more now would only grow the backlog */
        }
    }
}

static int listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 4096) != 0) {
        perror("epoll-server: bind/listen");
        exit(1);
    }
    return fd;
}

static void *serve(void *unused)
{
    (void)unused;
    int listener = listen_socket();
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
    struct epoll_event events[512];
    for (;;) {
        int count = epoll_wait(epoll, events, 512, -1);
        update_date();
        for (int i = 0; i < count; i++) {
            struct connection *c = events[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    struct connection *accepted = calloc(1, sizeof *accepted);
                    accepted->fd = fd;
                    struct epoll_event ready = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = accepted };
                    epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ready);
                }
                continue;
            }
            int result = 0;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                result = -1;
            }
            if (result == 0 && c->write_length > 0) {
                if (events[i].events & EPOLLOUT) {
                    /* The backlog went: read on, edge-triggered readiness that came meanwhile is not repeated. */
                    int flushed = flush_writes(c);
                    result = flushed < 0 || (flushed == 1 && c->close_after_write) ? -1 : flushed == 1 ? on_readable(c) : 0;
                }
            } else if (result == 0 && (events[i].events & (EPOLLIN | EPOLLRDHUP))) {
                result = on_readable(c);
            }
            if (result != 0) {
                close_connection(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: epoll-server PORT [THREADS]\n");
        return 2;
    }
    port = atoi(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    pthread_t ids[64];
    for (int i = 0; i < threads && i < 64; i++) {
        pthread_create(&ids[i], NULL, serve, NULL);
    }
    printf("c-epoll transport serves http://127.0.0.1:%d\n", port);
    fflush(stdout);
    pthread_join(ids[0], NULL);
    return 0;
}
