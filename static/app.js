// raincast: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Filter the city list as the visitor types, as the server's /?q= does:
  // a city shows when every word typed is in its names, state or aliases.
  var filter = document.getElementById("city-filter");
  var list = document.getElementById("city-list");
  if (filter && list) {
    var none = document.getElementById("no-match");
    var noneQ = document.getElementById("no-match-q");
    var count = document.getElementById("match-count");
    filter.addEventListener("input", function () {
      var words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(list.children, function (li) {
        var text = li.getAttribute("data-name");
        li.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
        if (!li.hidden) shown++;
      });
      if (count) count.hidden = true;
      if (none) {
        noneQ.textContent = filter.value.trim();
        none.hidden = shown > 0;
      }
    });
  }
  // Admin: follow a running job live.
  var live = document.getElementById("live-run");
  if (live) {
    var id = live.getAttribute("data-run");
    var status = document.getElementById("live-status");
    var elapsed = document.getElementById("live-elapsed");
    var trees = document.getElementById("live-trees");
    var log = document.getElementById("live-log");
    var poll = function () {
      fetch("/admin/runs/" + id + "/json", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (run) {
          status.textContent = run.status;
          status.className = "status-" + run.status;
          elapsed.textContent = run.elapsed_seconds.toFixed(0) + " s";
          if (run.progress && run.progress.trees_total) {
            trees.textContent = run.progress.trees_done + " / " + run.progress.trees_total;
          }
          log.textContent = run.log_tail;
          log.scrollTop = log.scrollHeight;
          if (run.status === "running") {
            setTimeout(poll, 1000);
          } else {
            live.setAttribute("data-done", "true");
          }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    poll();
  }
  // API docs: the interactive console (Swagger UI, served by this server)
  // loads only when asked, so the page itself stays light.
  var open = document.getElementById("open-console");
  if (open) {
    var say = document.getElementById("console-status");
    open.hidden = false;
    open.addEventListener("click", function () {
      open.disabled = true;
      say.textContent = "Loading the console…";
      var css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = "/api/docs/swagger-ui/swagger-ui.css";
      document.head.appendChild(css);
      var js = document.createElement("script");
      js.src = "/api/docs/swagger-ui/swagger-ui-bundle.js";
      js.onload = function () {
        window.SwaggerUIBundle({
          url: open.getAttribute("data-spec"),
          dom_id: "#swagger-ui",
          validatorUrl: null,
          onComplete: function () {
            say.textContent = "";
            open.hidden = true;
          },
        });
      };
      js.onerror = function () {
        say.textContent = "The console could not be loaded; reload the page to try again.";
        open.disabled = false;
      };
      document.head.appendChild(js);
    });
  }
})();
