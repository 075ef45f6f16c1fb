/* Evapo dashboard, browser side: talks to the API (same origin), follows a job over the
 * browser's own WebSocket with ?after=<seq> replay on reconnect, falls back to polling the
 * status endpoint, and pushes state into Dash stores with dash_clientside.set_props. */
(function () {
  "use strict";

  var cfg = Object.assign(
    {
      slowAfterMs: 2500, // show "server is slow" after this long without an answer
      requestTimeoutMs: 20000, // give up on one request after this long and offer retry
      pollMs: 1000, // status polling period when WebSockets fail
      maxWsFailures: 2, // sockets that fail to open before falling back to polling
      silenceMs: 45000, // no message (not even HEARTBEAT) for this long: reconnect
    },
    window.EVAPO_CONFIG || {}
  );

  var TERMINAL = { succeeded: 1, failed: 1, timed_out: 1, cancelled: 1 };
  var BADGE = {
    connecting: "secondary",
    queued: "secondary",
    running: "primary",
    succeeded: "success",
    failed: "danger",
    timed_out: "warning",
    cancelled: "dark",
  };

  function noUpdate() {
    return window.dash_clientside.no_update;
  }
  function setProps(id, props) {
    window.dash_clientside.set_props(id, props);
  }
  function tr(i18n, lang, key, params) {
    var table = (i18n && (i18n[lang] || i18n.en)) || {};
    var text = table[key] !== undefined ? table[key] : key;
    Object.keys(params || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(params[name]));
    });
    return text;
  }

  // The language and strings, kept current by the callbacks that receive them.
  var ui = { lang: "en", i18n: null };
  function t(key, params) {
    return tr(ui.i18n, ui.lang, key, params);
  }

  // ---- network state and retry --------------------------------------------------------
  var net = { status: "ok" };
  var lastFailed = null; // the action to run again when the user presses Retry

  function setNet(state) {
    if (state.status === net.status && state.message === net.message) return;
    net = state;
    setProps("net-state", { data: state });
  }

  function NetworkError(message) {
    this.name = "NetworkError";
    this.message = message;
  }

  /* fetch with a "slow" notice, a time limit, and a network-state update. Resolves with the
   * Response (any HTTP status); rejects with NetworkError when the server cannot be reached. */
  function api(url, options, retryAction) {
    var controller = new AbortController();
    var slowTimer = setTimeout(function () {
      setNet({ status: "slow" });
    }, cfg.slowAfterMs);
    var abortTimer = setTimeout(function () {
      controller.abort();
    }, cfg.requestTimeoutMs);
    var opts = Object.assign({ headers: { Accept: "application/json" } }, options || {});
    opts.signal = controller.signal;
    return fetch(url, opts).then(
      function (resp) {
        clearTimeout(slowTimer);
        clearTimeout(abortTimer);
        if (net.status !== "ok") setNet({ status: "ok" }); // an answer clears old notices
        return resp;
      },
      function (err) {
        clearTimeout(slowTimer);
        clearTimeout(abortTimer);
        if (retryAction) lastFailed = retryAction;
        setNet({ status: "down" });
        throw new NetworkError(String((err && err.message) || err));
      }
    );
  }

  /* The JSON body of a response, or null when it is not JSON (never rejects). */
  function jsonOf(resp) {
    return resp.json().then(
      function (body) {
        return body;
      },
      function () {
        return null;
      }
    );
  }

  function errorText(resp) {
    return resp
      .json()
      .then(
        function (body) {
          var d = body && body.detail;
          if (typeof d === "string") return d;
          if (Array.isArray(d)) return d.map(fieldMessage).join("; ");
          return resp.statusText || "HTTP " + resp.status;
        },
        function () {
          return resp.statusText || "HTTP " + resp.status;
        }
      );
  }

  function fieldMessage(item) {
    var msg = String(item.msg || "").replace(/^Value error, /, "");
    var loc = (item.loc || []).filter(function (p) {
      return p !== "body" && p !== "query";
    });
    return loc.length ? loc.join(".") + ": " + msg : msg;
  }

  function wsUrlFor(jobId) {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + window.location.host + "/ws/jobs/" + encodeURIComponent(jobId);
  }

  // ---- following one job ----------------------------------------------------------------
  var watcher = null;

  function JobWatcher(jobId, urls, startedAt) {
    this.jobId = jobId;
    this.wsUrl = urls.wsUrl || wsUrlFor(jobId);
    this.statusUrl = urls.statusUrl || "/api/v1/jobs/" + encodeURIComponent(jobId);
    this.lastSeq = 0;
    this.failures = 0;
    this.stopped = false;
    this.done = false;
    this.ws = null;
    this.pollTimer = null;
    this.silenceTimer = null;
    this.state = {
      job_id: jobId,
      open: true,
      status: "connecting",
      progress: 0,
      step: "",
      message: "",
      transport: "",
      error: null,
      startedAt: startedAt || Date.now(),
      finishedAt: null,
    };
  }

  JobWatcher.prototype.update = function (patch) {
    Object.assign(this.state, patch);
    if (!this.stopped) setProps("job-state", { data: Object.assign({}, this.state) });
  };

  JobWatcher.prototype.start = function () {
    this.update({});
    this.connect();
  };

  JobWatcher.prototype.connect = function () {
    var self = this;
    if (self.stopped || self.done) return;
    var ws;
    try {
      ws = new WebSocket(self.wsUrl + "?after=" + self.lastSeq);
    } catch (err) {
      self.startPolling();
      return;
    }
    var delivered = false; // a socket that closes before any message counts as a failure
    self.ws = ws;
    ws.onopen = function () {
      self.update({ transport: "ws" });
      self.armSilence();
    };
    ws.onmessage = function (ev) {
      if (!delivered) {
        delivered = true;
        self.failures = 0;
      }
      self.armSilence();
      var msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        return;
      }
      self.handle(msg);
    };
    ws.onclose = function (ev) {
      clearTimeout(self.silenceTimer);
      if (self.ws === ws) self.ws = null;
      if (self.stopped || self.done) return;
      if (ev.code === 4404) {
        self.finish("failed", { code: "not_found", message: "job " + self.jobId + " not found" });
        return;
      }
      if (!delivered) self.failures += 1;
      if (self.failures >= cfg.maxWsFailures) {
        self.startPolling();
      } else {
        setTimeout(function () {
          self.connect();
        }, 250 * Math.pow(2, self.failures));
      }
    };
  };

  JobWatcher.prototype.armSilence = function () {
    var self = this;
    clearTimeout(self.silenceTimer);
    self.silenceTimer = setTimeout(function () {
      if (self.ws) self.ws.close(4000, "silent");
    }, cfg.silenceMs);
  };

  JobWatcher.prototype.handle = function (msg) {
    if (msg.type === "HEARTBEAT") return;
    if (typeof msg.seq === "number" && msg.seq > 0) {
      if (msg.seq <= this.lastSeq) return; // already seen (replay overlap)
      this.lastSeq = msg.seq;
    }
    if (msg.type === "PROGRESS") {
      this.update({
        status: "running",
        progress: msg.progress,
        step: msg.step,
        message: msg.message,
      });
    } else if (msg.type === "SUCCESS") {
      this.finish("succeeded", null, msg.result_url);
    } else if (msg.type === "ERROR") {
      this.finish(msg.code === "cancelled" ? "cancelled" : "failed", {
        code: msg.code,
        message: msg.message,
      });
    } else if (msg.type === "TIMEOUT") {
      this.finish("timed_out", { code: "timeout", message: msg.message });
    }
  };

  JobWatcher.prototype.finish = function (status, error, resultUrl) {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.silenceTimer);
    if (this.ws) this.ws.close(1000, "done");
    var patch = { status: status, error: error, finishedAt: Date.now() };
    if (status === "succeeded") patch.progress = 100;
    this.update(patch);
    if (status === "succeeded" && !this.stopped) {
      var self = this;
      loadResult(this.jobId, resultUrl).then(function (ok) {
        if (ok) self.update({ open: false });
      });
    }
  };

  JobWatcher.prototype.startPolling = function () {
    var self = this;
    if (self.stopped || self.done) return;
    self.update({ transport: "polling" });
    var poll = function () {
      if (self.stopped || self.done) return;
      api(self.statusUrl, null, null).then(
        function (resp) {
          if (!resp.ok) return errorText(resp).then(function (m) {
            self.finish("failed", { code: "http_" + resp.status, message: m });
          });
          return resp.json().then(function (job) {
            if (TERMINAL[job.status]) {
              var err = job.error || null;
              self.finish(job.status, err, job.result_url);
            } else {
              self.update({
                status: job.status,
                progress: job.progress || 0,
                step: job.step || "",
                message: job.message || "",
              });
              self.pollTimer = setTimeout(poll, cfg.pollMs);
            }
          });
        },
        function () {
          self.pollTimer = setTimeout(poll, cfg.pollMs);
        }
      );
    };
    poll();
  };

  /* Stop listening (the job itself goes on). */
  JobWatcher.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    clearTimeout(this.silenceTimer);
    if (this.ws) this.ws.close(1000, "card closed");
    this.ws = null;
  };

  function watch(jobId, urls, startedAt) {
    if (watcher) watcher.stop();
    watcher = new JobWatcher(jobId, urls || {}, startedAt);
    watcher.start();
  }

  // ---- API actions -------------------------------------------------------------------------
  function loadResult(jobId, resultUrl) {
    var url = resultUrl || "/api/v1/jobs/" + encodeURIComponent(jobId) + "/result";
    var again = function () {
      return loadResult(jobId, resultUrl);
    };
    var statusUrl = "/api/v1/jobs/" + encodeURIComponent(jobId);
    return Promise.all([api(url + (url.indexOf("?") < 0 ? "?format=json" : ""), null, again),
                        api(statusUrl, null, again)])
      .then(function (resps) {
        if (!resps[0].ok) {
          return errorText(resps[0]).then(function (m) {
            setNet({ status: "error", message: t("result_error", { message: m }) });
            return false;
          });
        }
        return Promise.all([resps[0].json(), resps[1].ok ? resps[1].json() : {}]).then(
          function (bodies) {
            var result = bodies[0];
            result.spec = (bodies[1] && bodies[1].spec) || null;
            setProps("result-store", { data: result });
            return true;
          }
        );
      })
      .catch(function () {
        return false;
      });
  }

  function showFieldErrors(errors) {
    ["lat", "lon", "elevation"].forEach(function (name) {
      if (errors[name]) {
        setProps(name, { invalid: true });
        setProps(name + "-feedback", { children: errors[name] });
      }
    });
    if (errors.dates) setProps("dates-feedback", { children: errors.dates });
  }

  var submitting = false; // one submission at a time (a double click makes one job)

  function submitJob(request) {
    var again = function () {
      return submitJob(request);
    };
    if (submitting) return Promise.resolve();
    submitting = true;
    var done = function () {
      submitting = false;
    };
    return api(
      "/api/v1/jobs",
      {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(request),
      },
      again
    ).then(
      function (resp) {
        if (resp.status === 422) {
          return resp.json().then(function (body) {
            var errors = {};
            var other = [];
            (Array.isArray(body.detail) ? body.detail : []).forEach(function (item) {
              var field = (item.loc || [])[1];
              var msg = fieldMessage({ msg: item.msg, loc: [] });
              if (field === "lat" || field === "lon" || field === "elevation") {
                errors[field] = msg;
              } else if (field === "start" || field === "end") {
                errors.dates = msg;
              } else {
                other.push(fieldMessage(item));
              }
            });
            if (typeof body.detail === "string") other.push(body.detail);
            showFieldErrors(errors);
            setProps("form-msg", { children: other.join("; ") || t("form_invalid") });
          });
        }
        if (!resp.ok) {
          return errorText(resp).then(function (m) {
            setNet({ status: "error", message: t("api_error", { message: m }) });
          });
        }
        return resp.json().then(function (acc) {
          lastFailed = null;
          watch(acc.job_id, { wsUrl: acc.ws_url, statusUrl: acc.status_url }, Date.now());
        });
      },
      function () {
        /* the network alert with its Retry button is shown by api() */
      }
    ).then(done, done);
  }

  function openJob(jobId) {
    var again = function () {
      return openJob(jobId);
    };
    return api("/api/v1/jobs/" + encodeURIComponent(jobId), null, again).then(
      function (resp) {
        if (!resp.ok) {
          return errorText(resp).then(function (m) {
            setNet({ status: "error", message: t("result_error", { message: m }) });
          });
        }
        return resp.json().then(function (job) {
          if (job.status === "succeeded") {
            if (watcher) watcher.stop();
            return loadResult(jobId, job.result_url);
          }
          var started = Date.parse(job.created_at) || Date.now();
          watch(jobId, {}, started);
          return null;
        });
      },
      function () {}
    );
  }

  // ---- clientside callbacks ------------------------------------------------------------------
  var sourcesAsked = 0;
  var lastJobKey = null;

  var evapo = {
    translate: function (lang, i18n) {
      ui.lang = lang || "en";
      ui.i18n = i18n;
      var outs = window.dash_clientside.callback_context.outputs_list || [];
      return outs.map(function (o) {
        return tr(i18n, ui.lang, o.id.key);
      });
    },

    mapClick: function (click) {
      if (!click || !click.latlng) return [noUpdate(), noUpdate()];
      var ll = click.latlng;
      var lat = Array.isArray(ll) ? ll[0] : ll.lat;
      var lng = Array.isArray(ll) ? ll[1] : ll.lng;
      lng = ((((lng + 180) % 360) + 360) % 360) - 180; // the map wraps around the globe
      return [lat.toFixed(5), lng.toFixed(5)];
    },

    locate: function (n, lang, i18n) {
      if (!navigator.geolocation) {
        return [noUpdate(), noUpdate(), tr(i18n, lang, "geo_unavailable", { reason: "-" })];
      }
      setProps("locate-msg", { children: tr(i18n, lang, "locating") });
      return new Promise(function (resolve) {
        navigator.geolocation.getCurrentPosition(
          function (pos) {
            resolve([pos.coords.latitude.toFixed(5), pos.coords.longitude.toFixed(5), ""]);
          },
          function (err) {
            resolve([
              noUpdate(),
              noUpdate(),
              tr(i18n, lang, "geo_unavailable", { reason: err.message || err.code }),
            ]);
          },
          { timeout: 10000 }
        );
      });
    },

    calculate: function (n, form, lang, i18n) {
      if (!form || !form.request) {
        showFieldErrors((form && form.errors) || {});
        return tr(i18n, lang, "form_invalid");
      }
      submitJob(form.request);
      return "";
    },

    fetchSources: function (form) {
      if (!form || !form.request) return null;
      var r = form.request;
      var q = new URLSearchParams({ lat: r.lat, lon: r.lon, start: r.start, end: r.end });
      var mine = ++sourcesAsked;
      var again = function () {
        setProps("form-store", { data: Object.assign({}, form) });
      };
      return api("/api/v1/sources?" + q.toString(), null, again).then(
        function (resp) {
          if (mine !== sourcesAsked) return noUpdate();
          if (!resp.ok) {
            return errorText(resp).then(function (m) {
              return { status: "error", message: m };
            });
          }
          return jsonOf(resp).then(function (answer) {
            return answer ? { status: "ok", answer: answer } : noUpdate();
          });
        },
        function () {
          return mine === sourcesAsked ? { status: "error", message: t("api_down") } : noUpdate();
        }
      );
    },

    renderNet: function (state, lang, i18n) {
      var s = (state && state.status) || "ok";
      if (s === "ok") return [false, "warning", "", { display: "none" }];
      if (s === "slow") return [true, "info", tr(i18n, lang, "api_slow"), { display: "none" }];
      if (s === "down") return [true, "warning", tr(i18n, lang, "api_down"), {}];
      return [true, "danger", state.message || "", lastFailed ? {} : { display: "none" }];
    },

    retry: function () {
      var action = lastFailed;
      lastFailed = null;
      net = { status: "ok" };
      if (action) setTimeout(action, 0);
      return { status: "ok" };
    },

    renderJob: function (state, lang, i18n) {
      if (!state) {
        return [false, "", "secondary", 0, "0 %", false, "", "", false, "", "", true];
      }
      var running = !TERMINAL[state.status];
      var step = state.message || state.step || tr(i18n, lang, "step_waiting");
      var transport = "";
      if (state.transport === "ws") transport = tr(i18n, lang, "live");
      if (state.transport === "polling") transport = tr(i18n, lang, "polling");
      var err = "";
      if (state.error) {
        var key = state.status === "timed_out" ? "job_timeout" : "job_error";
        err = tr(i18n, lang, key, { message: state.error.message || state.error.code || "" });
      }
      var p = Math.max(0, Math.min(100, Number(state.progress) || 0));
      return [
        !!state.open,
        tr(i18n, lang, "status_" + state.status),
        BADGE[state.status] || "secondary",
        p,
        Math.round(p) + " %",
        running,
        step,
        transport,
        !!err,
        err,
        state.job_id || "",
        !(state.open && running),
      ];
    },

    tick: function (n, state, lang, i18n) {
      if (!state || !state.startedAt) return "";
      var end = state.finishedAt || Date.now();
      var s = Math.max(0, Math.round((end - state.startedAt) / 1000));
      return tr(i18n, lang, "elapsed", { s: s });
    },

    closeCard: function () {
      if (watcher) {
        watcher.stop();
        return Object.assign({}, watcher.state, { open: false });
      }
      return noUpdate();
    },

    fetchJobs: function (n, state) {
      var key = state ? state.job_id + ":" + state.status + ":" + state.open : "none";
      var triggered = window.dash_clientside.callback_context.triggered || [];
      var byButton = triggered.some(function (x) {
        return x.prop_id === "jobs-refresh.n_clicks";
      });
      if (!byButton && key === lastJobKey) return noUpdate();
      lastJobKey = key;
      return api("/api/v1/jobs?limit=10", null, null).then(
        function (resp) {
          return resp.ok
            ? jsonOf(resp).then(function (body) {
                return body && Array.isArray(body.jobs) ? body : noUpdate();
              })
            : noUpdate();
        },
        function () {
          return noUpdate();
        }
      );
    },

    openJob: function (clicks) {
      var trig = window.dash_clientside.callback_context.triggered || [];
      var hit = trig.filter(function (x) {
        return x.value;
      })[0];
      if (!hit) return noUpdate();
      var id = JSON.parse(hit.prop_id.slice(0, hit.prop_id.lastIndexOf("."))).index;
      openJob(id);
      return noUpdate();
    },
  };

  window.dash_clientside = Object.assign({}, window.dash_clientside, { evapo: evapo });

  // Number formatting of the daily grid (dash-ag-grid valueFormatter functions).
  var gridFunctions = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  gridFunctions.evapoNumber = function (value, digits, lang) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return new Intl.NumberFormat(lang === "pt" ? "pt-BR" : "en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value);
  };
})();
