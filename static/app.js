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
})();
