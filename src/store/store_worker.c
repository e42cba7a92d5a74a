/* A store connection on its own thread, fed with jobs from the libuv loop;
 * completions come back to the loop through a uv_async_t. */
#include "store/store.h"

#include <stdlib.h>

struct job {
	void (*work)(struct cpm_store *s, void *arg);
	void (*done)(void *arg);
	void *arg;
	struct job *next;
};

struct cpm_store_worker {
	uv_loop_t *loop;
	uv_async_t async;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cv;
	/* under mu */
	struct job *todo, **todo_tail;
	struct job *finished, **finished_tail;
	bool stop;
	/* loop thread only */
	bool closing;
	size_t pending;
	struct cpm_store *store; /* the worker thread's once started */
};

static void worker_thread(void *arg)
{
	struct cpm_store_worker *w = arg;
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo && !w->stop)
			uv_cond_wait(&w->cv, &w->mu);
		struct job *j = w->todo;
		if (!j)
			break; /* stop, and nothing left */
		w->todo = j->next;
		if (!w->todo)
			w->todo_tail = &w->todo;
		uv_mutex_unlock(&w->mu);

		if (j->work)
			j->work(w->store, j->arg);

		uv_mutex_lock(&w->mu);
		j->next = NULL;
		*w->finished_tail = j;
		w->finished_tail = &j->next;
		uv_mutex_unlock(&w->mu);
		uv_async_send(&w->async);
		uv_mutex_lock(&w->mu);
	}
	uv_mutex_unlock(&w->mu);
}

/* Call the done callbacks of the finished jobs, in order (loop thread). */
static void deliver(struct cpm_store_worker *w)
{
	for (;;) {
		uv_mutex_lock(&w->mu);
		struct job *list = w->finished;
		w->finished = NULL;
		w->finished_tail = &w->finished;
		uv_mutex_unlock(&w->mu);
		if (!list)
			return;
		while (list) {
			struct job *j = list;
			list = j->next;
			if (j->done)
				j->done(j->arg);
			free(j);
			if (--w->pending == 0 && !w->closing)
				uv_unref((uv_handle_t *)&w->async);
		}
	}
}

static void on_async(uv_async_t *h)
{
	deliver(h->data);
}

static void on_close(uv_handle_t *h)
{
	free(h->data);
}

int cpm_store_worker_new_ex(uv_loop_t *loop, const char *url,
			    const struct cpm_store_options *opts,
			    struct cpm_store_worker **out)
{
	*out = NULL;
	struct cpm_store_worker *w = calloc(1, sizeof *w);
	if (!w)
		return CPM_ENOMEM;
	w->loop = loop;
	w->todo_tail = &w->todo;
	w->finished_tail = &w->finished;
	int rc = cpm_store_open_ex(url, opts, &w->store);
	if (rc) {
		free(w);
		return rc;
	}
	if (uv_mutex_init(&w->mu) != 0) {
		rc = CPM_ENOMEM;
		goto fail_store;
	}
	if (uv_cond_init(&w->cv) != 0) {
		rc = CPM_ENOMEM;
		goto fail_mutex;
	}
	if (uv_async_init(loop, &w->async, on_async) != 0) {
		rc = CPM_EIO;
		goto fail_cond;
	}
	w->async.data = w;
	uv_unref((uv_handle_t *)&w->async); /* idle: keep no loop alive */
	if (uv_thread_create(&w->thread, worker_thread, w) != 0) {
		rc = CPM_ENOMEM;
		uv_cond_destroy(&w->cv);
		uv_mutex_destroy(&w->mu);
		cpm_store_close(w->store);
		uv_close((uv_handle_t *)&w->async, on_close);
		return rc;
	}
	*out = w;
	return 0;
fail_cond:
	uv_cond_destroy(&w->cv);
fail_mutex:
	uv_mutex_destroy(&w->mu);
fail_store:
	cpm_store_close(w->store);
	free(w);
	return rc;
}

int cpm_store_worker_new(uv_loop_t *loop, const char *url,
			 struct cpm_store_worker **out)
{
	return cpm_store_worker_new_ex(loop, url, NULL, out);
}

int cpm_store_worker_submit(struct cpm_store_worker *w,
			    void (*work)(struct cpm_store *s, void *arg),
			    void (*done)(void *arg), void *arg)
{
	if (w->closing)
		return CPM_ESTATE;
	struct job *j = malloc(sizeof *j);
	if (!j)
		return CPM_ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->next = NULL;
	if (w->pending++ == 0)
		uv_ref((uv_handle_t *)&w->async);
	uv_mutex_lock(&w->mu);
	*w->todo_tail = j;
	w->todo_tail = &j->next;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
	return 0;
}

size_t cpm_store_worker_pending(const struct cpm_store_worker *w)
{
	return w->pending;
}

void cpm_store_worker_flush_and_free(struct cpm_store_worker *w)
{
	if (!w)
		return;
	w->closing = true;
	uv_mutex_lock(&w->mu);
	w->stop = true;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
	uv_thread_join(&w->thread);
	deliver(w);
	cpm_store_close(w->store);
	w->store = NULL;
	uv_cond_destroy(&w->cv);
	uv_mutex_destroy(&w->mu);
	uv_close((uv_handle_t *)&w->async, on_close);
}
