/* A store connection on its own thread, fed with jobs from the libuv loop;
 * completions come back to the loop through a uv_async_t. */
#include "store/store.h"

#include <stdlib.h>

struct job {
	void (*work)(struct cpm_store *s, void *arg);
	void (*done)(void *arg);
	bool read; /* work only reads: it may run inside a batch */
	/* batchable jobs (group commit) */
	int (*bwork)(struct cpm_store *s, void *arg);
	void (*bdone)(void *arg, int rc);
	int rc;
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
	uint64_t batches, batched_jobs;
	/* loop thread only */
	bool closing;
	size_t pending;
	struct cpm_store *store; /* the worker thread's once started */
};

/* Run the n batchable and read jobs from first on in one transaction,
 * each batchable one in its own savepoint (worker thread).  The read jobs
 * see the writes of the jobs before them, as they would outside. */
static void run_batch(struct cpm_store *s, struct job *first, size_t n)
{
	if (n == 0)
		return;
	struct job *j = first;
	bool writes = false;
	for (size_t i = 0; i < n && !writes; i++, j = j->next)
		writes = j->bwork != NULL;
	if (!writes) { /* reads only: nothing to commit */
		for (j = first; n--; j = j->next)
			j->work(s, j->arg);
		return;
	}
	int rc = cpm_store_txn(s, CPM_STORE_TXN_BEGIN);
	j = first;
	for (size_t i = 0; i < n; i++, j = j->next) {
		if (rc) {
			j->rc = rc;
			if (!j->bwork) /* a read job still runs: outside */
				j->work(s, j->arg);
			continue;
		}
		int r;
		if (!j->bwork) {
			j->work(s, j->arg);
			/* I/O errors end the transaction even on a read */
			r = cpm_store_txn(s, CPM_STORE_TXN_ACTIVE) == 1 ? 0 : CPM_EIO;
		} else {
			r = cpm_store_txn(s, CPM_STORE_TXN_SAVEPOINT);
			if (!r) {
				r = j->bwork(s, j->arg);
				if (r < 0)
					cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK_TO);
				cpm_store_txn(s, CPM_STORE_TXN_RELEASE);
			}
		}
		j->rc = r;
		if (r < 0 && cpm_store_txn(s, CPM_STORE_TXN_ACTIVE) != 1) {
			/* the failure took the whole transaction with it: the
			 * jobs before lost their writes; the rest start over */
			for (struct job *k = first; k != j; k = k->next)
				if (k->rc >= 0)
					k->rc = r;
			cpm_logw("store", "batch of %zu rolled back by job %zu: %s",
				 n, i + 1, cpm_strerror(r));
			run_batch(s, j->next, n - i - 1);
			return;
		}
	}
	if (rc)
		return;
	rc = cpm_store_txn(s, CPM_STORE_TXN_COMMIT);
	if (!rc)
		return;
	/* nothing of the batch is on disk */
	cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
	j = first;
	for (size_t i = 0; i < n; i++, j = j->next)
		if (j->rc >= 0)
			j->rc = rc;
}

static void worker_thread(void *arg)
{
	struct cpm_store_worker *w = arg;
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo && !w->stop)
			uv_cond_wait(&w->cv, &w->mu);
		struct job *j = w->todo, *last = j;
		if (!j)
			break; /* stop, and nothing left */
		/* a batch: the batchable and read jobs queued back to back
		 * from here */
		size_t n = 1;
		bool batch = j->bwork || j->read;
		while (batch && last->next && (last->next->bwork || last->next->read) &&
		       n < CPM_STORE_WORKER_BATCH_MAX) {
			last = last->next;
			n++;
		}
		w->todo = last->next;
		if (!w->todo)
			w->todo_tail = &w->todo;
		last->next = NULL;
		uv_mutex_unlock(&w->mu);

		if (batch)
			run_batch(w->store, j, n);
		else if (j->work)
			j->work(w->store, j->arg);

		size_t nb = 0;
		for (struct job *k = j; batch && k; k = k->next)
			nb += k->bwork != NULL;
		uv_mutex_lock(&w->mu);
		if (nb) {
			w->batches++;
			w->batched_jobs += nb;
		}
		*w->finished_tail = j;
		w->finished_tail = &last->next;
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
			if (j->bdone)
				j->bdone(j->arg, j->rc);
			else if (j->done)
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

static int submit(struct cpm_store_worker *w, struct job *tmpl)
{
	if (w->closing)
		return CPM_ESTATE;
	struct job *j = malloc(sizeof *j);
	if (!j)
		return CPM_ENOMEM;
	*j = *tmpl;
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

int cpm_store_worker_submit(struct cpm_store_worker *w,
			    void (*work)(struct cpm_store *s, void *arg),
			    void (*done)(void *arg), void *arg)
{
	return submit(w, &(struct job){ .work = work, .done = done, .arg = arg });
}

int cpm_store_worker_submit_read(struct cpm_store_worker *w,
				 void (*work)(struct cpm_store *s, void *arg),
				 void (*done)(void *arg), void *arg)
{
	if (!work)
		return CPM_EINVAL;
	return submit(w, &(struct job){ .work = work, .done = done, .read = true, .arg = arg });
}

int cpm_store_worker_submit_batchable(struct cpm_store_worker *w,
				      int (*work)(struct cpm_store *s, void *arg),
				      void (*done)(void *arg, int rc), void *arg)
{
	if (!work)
		return CPM_EINVAL;
	return submit(w, &(struct job){ .bwork = work, .bdone = done, .arg = arg });
}

void cpm_store_worker_batch_stats(struct cpm_store_worker *w, uint64_t *batches,
				  uint64_t *jobs)
{
	uv_mutex_lock(&w->mu);
	if (batches)
		*batches = w->batches;
	if (jobs)
		*jobs = w->batched_jobs;
	uv_mutex_unlock(&w->mu);
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
