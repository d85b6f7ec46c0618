#ifndef HANDOFF_CLIBPQ_SHIM_H
#define HANDOFF_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#ifdef __linux__
/* The socket poller waits on every connection's socket with epoll (and wakes with an eventfd), which Swift's
   Glibc module leaves out. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#endif
