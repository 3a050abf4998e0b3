# gnuplot -e "out='out'" examples/tank/plot.gp
# Reads the sensor log (examples/tank/level.csv: time, level_m) and what
#   dtwin run --estimates out/tank_estimates.csv --commands out/tank_commands.csv examples/tank/twin.json
# wrote: tank_estimates.csv (time_s, then value and variance of each state),
# tank_commands.csv (time_s, seq, signal, value, requested, decision).
if (!exists("log")) log = "examples/tank/level.csv"
set datafile separator ","
set terminal pngcairo size 1100,850 font "sans,10" noenhanced
set output out."/tank.png"
est = out."/tank_estimates.csv"
set grid
set lmargin at screen 0.09
set rmargin at screen 0.72
panel(top, bottom) = sprintf("set tmargin at screen %g; set bmargin at screen %g; set key at screen 0.74, screen %g left top Left reverse samplen 2", top, bottom, top)
set multiplot title "Tank twin through the dtwin CLI: CSV replay -> Kalman filter -> PID -> dispatcher"

eval panel(0.91, 0.65)
set ylabel "tank level (m)"
plot log every ::1 using 1:2 with points pt 7 ps 0.3 lc rgb "#969696" title "level sensor (level.csv)", \
     est every ::1 using 1:($2-2*sqrt($3)):($2+2*sqrt($3)) with filledcurves \
         fs transparent solid 0.7 noborder lc rgb "#c6dbef" title "level estimate +-2 sigma", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "#2171b5" title "level estimate", \
     2.0 with lines dt 2 lw 1.5 lc rgb "#cb181d" title "PID setpoint 2.0 m"

eval panel(0.59, 0.35)
set ylabel "inflow (m3/h)"
plot est every ::1 using 1:($4-2*sqrt($5)):($4+2*sqrt($5)) with filledcurves \
         fs transparent solid 0.7 noborder lc rgb "#c6dbef" title "inflow estimate +-2 sigma", \
     "" every ::1 using 1:4 with lines lw 2 lc rgb "#2171b5" title "inflow estimate (not measured)"

eval panel(0.29, 0.07)
set xlabel "time (s)"
set ylabel "pump speed (rpm)"
plot out."/tank_commands.csv" every ::1 \
         using 1:(strcol(3) eq "pump.speed_cmd" ? $4 : 1/0) with steps lw 1.5 lc rgb "#d94801" \
         title "pump speed command (dispatched)"
unset multiplot
