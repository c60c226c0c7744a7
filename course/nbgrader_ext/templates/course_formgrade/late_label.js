// Included by mathjax.html.j2 into formgrader's grading page: a late submission gets a
// label "late: submitted 5.0 h after the due date" beside the notebook's name, from
// formgrader's API (the submission's time stamp, the assignment's due date). A student's
// extension, which nbgrader's total_seconds_late counts, is not taken into account.
$(function () {
    // base_url, assignment_id, notebook_id, submission_id: set by nbgrader's header
    var api = base_url + "/api/";
    var utc = function (iso) { return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z"); };
    $.getJSON(api + "submitted_notebooks/" + assignment_id + "/" + notebook_id).then(function (notebooks) {
        var mine = notebooks.filter(function (n) { return n.id === submission_id; })[0];
        if (!mine) { return; }
        return $.when($.getJSON(api + "submission/" + assignment_id + "/" + mine.student),
                      $.getJSON(api + "assignment/" + assignment_id));
    }).then(function (submission, assignment) {
        if (!submission) { return; }
        var stamp = submission[0].timestamp, due = assignment[0].duedate;
        if (!stamp || !due) { return; }
        var seconds = (utc(stamp) - utc(due)) / 1000;
        if (seconds <= 0) { return; }
        var how = seconds >= 360 ? (seconds / 3600).toFixed(1) + " h"
                                 : Math.round(seconds / 60) + " min";
        $("<span/>").addClass("label label-warning course-late")
            .text("late: submitted " + how + " after the due date")
            .attr("title", "submitted " + stamp + " UTC, due " + due + " UTC")
            .css("margin-left", "1em")
            .insertAfter($(".panel-heading .panel-title > span").first());
    });
});
