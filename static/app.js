// raincast: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Filter the city list as the visitor types.
  var filter = document.getElementById("city-filter");
  var list = document.getElementById("city-list");
  if (filter && list) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      Array.prototype.forEach.call(list.children, function (li) {
        li.hidden = q !== "" && li.getAttribute("data-name").indexOf(q) === -1;
      });
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
